// Entry point Omniview loads from the Vite dev server: http://127.0.0.1:<vitePort>/src/entry.ts
export const pluginId = "hello-plugin";

export function mount(root: HTMLElement): void {
  root.textContent = "Hello from hello-plugin's UI";
}

const root = document.getElementById("root");
if (root) {
  mount(root);
}
