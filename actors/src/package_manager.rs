//! Chooses the UI's package manager and the exact arguments for `install` and `dev`.

use std::path::Path;

/// A JavaScript package manager ovdev can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageManager {
    Pnpm,
    Npm,
    Yarn,
    Bun,
}

impl PackageManager {
    /// The executable's usual name.
    pub fn program(self) -> &'static str {
        match self {
            Self::Pnpm => "pnpm",
            Self::Npm => "npm",
            Self::Yarn => "yarn",
            Self::Bun => "bun",
        }
    }

    /// Parses a name given by a user (`--package-manager`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "pnpm" => Some(Self::Pnpm),
            "npm" => Some(Self::Npm),
            "yarn" => Some(Self::Yarn),
            "bun" => Some(Self::Bun),
            _ => None,
        }
    }

    /// The manager an executable's file name names (`/opt/yarn-4/bin/yarn` is yarn), if any.
    pub fn from_program(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?;
        Self::from_name(name.strip_suffix(".exe").unwrap_or(name))
    }

    /// The lockfiles this manager writes (yarn 1 and yarn 4 share `yarn.lock`).
    pub fn lockfiles(self) -> &'static [&'static str] {
        match self {
            Self::Pnpm => &["pnpm-lock.yaml"],
            Self::Npm => &["package-lock.json", "npm-shrinkwrap.json"],
            Self::Yarn => &["yarn.lock"],
            Self::Bun => &["bun.lock", "bun.lockb"],
        }
    }

    /// The manager a lockfile in `ui_dir` names, if any (pnpm, npm, yarn, bun: first found).
    pub fn from_lockfile(ui_dir: &Path) -> Option<Self> {
        [Self::Pnpm, Self::Npm, Self::Yarn, Self::Bun]
            .into_iter()
            .find(|pm| pm.has_lockfile(ui_dir))
    }

    /// True when `ui_dir` holds one of this manager's lockfiles.
    pub fn has_lockfile(self, ui_dir: &Path) -> bool {
        self.lockfiles()
            .iter()
            .any(|file| ui_dir.join(file).is_file())
    }

    /// Arguments that install dependencies. With a lockfile (`locked`) the install takes
    /// exactly its versions and never rewrites it: a lockfile out of step with `package.json`
    /// fails the install instead of being changed behind the developer's back. `yarn install
    /// --frozen-lockfile` is yarn 1's flag and an alias of `--immutable` in yarn 2 to 4, so one
    /// spelling serves both.
    pub fn install_args(self, locked: bool) -> Vec<String> {
        let args: &[&str] = match (self, locked) {
            (Self::Npm, true) => &["ci"],
            (_, true) => &["install", "--frozen-lockfile"],
            (_, false) => &["install"],
        };
        args.iter().map(|s| s.to_string()).collect()
    }

    /// What to do when a locked install failed: usually the lockfile is older than
    /// `package.json`.
    pub fn locked_install_hint(self) -> String {
        format!(
            "if `package.json` changed since the lockfile was written, run `{} install` in the UI directory to update the lockfile",
            self.program()
        )
    }

    /// Arguments that run the `dev` script with Vite on `port`, strictly, on loopback.
    ///
    /// Only npm needs `--` before script arguments. pnpm would hand a literal `--` to Vite,
    /// which then ignores `--port`; yarn (1.22 checked) and bun (1.4 checked) pass arguments
    /// after the script name through as they are.
    pub fn dev_args(self, port: u16) -> Vec<String> {
        let mut args = vec!["run".to_string(), "dev".to_string()];
        if self == Self::Npm {
            args.push("--".to_string());
        }
        args.extend(
            [
                "--port",
                &port.to_string(),
                "--strictPort",
                "--host",
                "127.0.0.1",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        args
    }
}

impl std::fmt::Display for PackageManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.program())
    }
}

/// True when the UI's dependencies are installed: `node_modules`, or yarn's Plug'n'Play map
/// (`.pnp.cjs`, yarn 2+ with its default linker), which replaces `node_modules`.
pub fn dependencies_installed(ui_dir: &Path) -> bool {
    ui_dir.join("node_modules").is_dir() || ui_dir.join(".pnp.cjs").is_file()
}

/// The manager to use for `ui_dir`: the lockfile's, else pnpm when `pnpm_available`, else npm.
pub fn detect_package_manager(ui_dir: &Path, pnpm_available: bool) -> PackageManager {
    PackageManager::from_lockfile(ui_dir).unwrap_or(if pnpm_available {
        PackageManager::Pnpm
    } else {
        PackageManager::Npm
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockfiles_choose_their_manager() {
        for (file, pm) in [
            ("pnpm-lock.yaml", PackageManager::Pnpm),
            ("package-lock.json", PackageManager::Npm),
            ("yarn.lock", PackageManager::Yarn),
            ("bun.lock", PackageManager::Bun),
            ("bun.lockb", PackageManager::Bun),
            ("npm-shrinkwrap.json", PackageManager::Npm),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(file), "").unwrap();
            assert_eq!(detect_package_manager(dir.path(), false), pm, "{file}");
            assert!(pm.has_lockfile(dir.path()));
        }
    }

    #[test]
    fn a_directory_named_like_a_lockfile_is_no_lockfile() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("yarn.lock")).unwrap();
        assert_eq!(PackageManager::from_lockfile(dir.path()), None);
    }

    #[test]
    fn locked_installs_never_rewrite_the_lockfile() {
        let cases = [
            (PackageManager::Npm, "ci"),
            (PackageManager::Pnpm, "install --frozen-lockfile"),
            (PackageManager::Yarn, "install --frozen-lockfile"),
            (PackageManager::Bun, "install --frozen-lockfile"),
        ];
        for (pm, locked) in cases {
            assert_eq!(pm.install_args(true).join(" "), locked, "{pm}");
            assert_eq!(pm.install_args(false).join(" "), "install", "{pm}");
            assert!(pm
                .locked_install_hint()
                .contains(&format!("`{pm} install`")));
        }
    }

    #[test]
    fn node_modules_or_a_pnp_map_mean_installed() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!dependencies_installed(dir.path()));
        std::fs::write(dir.path().join(".pnp.cjs"), "").unwrap();
        assert!(dependencies_installed(dir.path()));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("node_modules"), "").unwrap();
        assert!(
            !dependencies_installed(dir.path()),
            "a file is no node_modules"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("node_modules")).unwrap();
        assert!(dependencies_installed(dir.path()));
    }

    #[test]
    fn no_lockfile_prefers_pnpm_when_found() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            detect_package_manager(dir.path(), true),
            PackageManager::Pnpm
        );
        assert_eq!(
            detect_package_manager(dir.path(), false),
            PackageManager::Npm
        );
    }

    #[test]
    fn dev_args_per_manager() {
        let tail = "--port 15173 --strictPort --host 127.0.0.1";
        assert_eq!(
            PackageManager::Pnpm.dev_args(15173).join(" "),
            format!("run dev {tail}")
        );
        assert_eq!(
            PackageManager::Yarn.dev_args(15173).join(" "),
            format!("run dev {tail}")
        );
        assert_eq!(
            PackageManager::Npm.dev_args(15173).join(" "),
            format!("run dev -- {tail}")
        );
        assert_eq!(
            PackageManager::Bun.dev_args(15173).join(" "),
            format!("run dev {tail}")
        );
    }

    #[test]
    fn an_executable_path_names_its_manager() {
        let named = |p: &str| PackageManager::from_program(Path::new(p));
        assert_eq!(named("/opt/yarn-4/bin/yarn"), Some(PackageManager::Yarn));
        assert_eq!(named("/usr/bin/bun"), Some(PackageManager::Bun));
        assert_eq!(named("C:/node/npm.exe"), Some(PackageManager::Npm));
        assert_eq!(named("/usr/local/bin/pnpm-12"), None);
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            PackageManager::from_name("PNPM"),
            Some(PackageManager::Pnpm)
        );
        assert_eq!(PackageManager::from_name("cargo"), None);
    }
}
