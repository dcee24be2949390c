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

    /// The manager a lockfile in `ui_dir` names, if any.
    pub fn from_lockfile(ui_dir: &Path) -> Option<Self> {
        [
            ("pnpm-lock.yaml", Self::Pnpm),
            ("package-lock.json", Self::Npm),
            ("yarn.lock", Self::Yarn),
            ("bun.lock", Self::Bun),
            ("bun.lockb", Self::Bun),
        ]
        .into_iter()
        .find(|(file, _)| ui_dir.join(file).is_file())
        .map(|(_, pm)| pm)
    }

    /// Arguments that install dependencies.
    pub fn install_args(self) -> Vec<String> {
        vec!["install".to_string()]
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
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(file), "").unwrap();
            assert_eq!(detect_package_manager(dir.path(), false), pm, "{file}");
        }
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
    fn names_parse() {
        assert_eq!(
            PackageManager::from_name("PNPM"),
            Some(PackageManager::Pnpm)
        );
        assert_eq!(PackageManager::from_name("cargo"), None);
    }
}
