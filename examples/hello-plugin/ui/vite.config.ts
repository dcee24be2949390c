import { defineConfig } from "vite";

// ovdev passes --port, --strictPort and --host on the command line; keep them out of here.
export default defineConfig({
  server: { cors: true },
});
