//! The Python environment with real Open Inference Protocol servers and clients (MLServer,
//! KServe's model server, scikit-learn, tritonclient), built by `scripts/interop-env.sh v2` and
//! cached under `~/.cache/mulambda/venv-v2`, and the helper scripts under `testkit/python/`.
//!
//! Tests call [`V2Python::or_skip`]: it finds the environment (building it the first time, a
//! minute or two with network access to PyPI) or, when it cannot be had, prints why and lets
//! the test return early. `MULAMBDA_REQUIRE_V2=1` (set by `scripts/test-interop-v2.sh`) turns
//! the skip into a failure, so CI cannot pass by skipping.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Environment variable naming the environment's python directly (no build, no lookup).
pub const V2_PYTHON_ENV: &str = "MULAMBDA_V2_PYTHON";
/// Environment variable that makes a missing environment a test failure instead of a skip.
pub const REQUIRE_V2_ENV: &str = "MULAMBDA_REQUIRE_V2";
/// Environment variable that, set to `0`, stops tests from building a missing environment.
pub const BUILD_V2_ENV: &str = "MULAMBDA_V2_BUILD";

/// The V2 Python environment.
#[derive(Debug, Clone)]
pub struct V2Python {
    python: PathBuf,
}

// === impl V2Python ===

impl V2Python {
    /// Finds the environment: `MULAMBDA_V2_PYTHON` when set, else `scripts/interop-env.sh v2`
    /// (which builds it when missing, unless `MULAMBDA_V2_BUILD=0`).
    ///
    /// # Errors
    /// Why the environment cannot be had (no python3, no network, a failed install).
    pub fn locate() -> Result<V2Python, String> {
        if let Some(p) = std::env::var_os(V2_PYTHON_ENV) {
            let python = PathBuf::from(p);
            return if python.is_file() {
                Ok(V2Python { python })
            } else {
                Err(format!(
                    "{V2_PYTHON_ENV}={} is not a file",
                    python.display()
                ))
            };
        }
        let script = repo_root().join("scripts/interop-env.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(&script).arg("v2");
        if std::env::var(BUILD_V2_ENV).as_deref() == Ok("0") {
            cmd.arg("--check");
        }
        // Progress of a build goes to the test's stderr (shown when the test fails or with
        // --no-capture); the path comes on stdout.
        let out = cmd
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} v2 exited with {}",
                script.display(),
                out.status
            ));
        }
        let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let python = PathBuf::from(path);
        if python.is_file() {
            Ok(V2Python { python })
        } else {
            Err(format!(
                "{} v2 printed {:?}, not a python",
                script.display(),
                python
            ))
        }
    }

    /// [`V2Python::locate`] for a test: `None` after printing why the test is skipped, or a
    /// panic when `MULAMBDA_REQUIRE_V2=1`.
    pub fn or_skip(test: &str) -> Option<V2Python> {
        match Self::locate() {
            Ok(py) => Some(py),
            Err(why) if std::env::var(REQUIRE_V2_ENV).as_deref() == Ok("1") => {
                panic!("{test}: the V2 Python environment is required ({REQUIRE_V2_ENV}=1): {why}")
            }
            Err(why) => {
                eprintln!(
                    "SKIPPED {test}: no V2 Python environment ({why}); build it with \
                     `bash scripts/interop-env.sh v2` or run scripts/test-interop-v2.sh"
                );
                None
            }
        }
    }

    /// The environment's python.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// A console script installed in the environment (`mlserver`, …).
    pub fn bin(&self, name: &str) -> PathBuf {
        self.python.with_file_name(name)
    }

    /// Runs a helper script from `testkit/python/` with the environment's python and returns
    /// its stdout.
    ///
    /// # Errors
    /// A script that could not run or exited unsuccessfully (its stderr in the message).
    pub fn run_script(&self, script: &str, args: &[&str]) -> Result<String, String> {
        let path = script_path(script);
        let out = Command::new(&self.python)
            .arg(&path)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", path.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{script} {args:?} exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8(out.stdout).map_err(|e| format!("{script}: non-UTF-8 output: {e}"))
    }
}

/// The repository's root (testkit's parent directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// A helper script under `testkit/python/`.
pub fn script_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}
