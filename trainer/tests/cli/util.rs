//! A temp directory per test and a handle on the `ajuste` binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// Repository-relative fixture path.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A fixture path as a string argument.
pub fn fx(rel: &str) -> String {
    fixture(rel).display().to_string()
}

pub struct CliTest {
    pub dir: tempfile::TempDir,
}

/// The result of one run: exit code and both streams as text.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl CliTest {
    pub fn new() -> CliTest {
        CliTest {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file into the test directory and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Copies a repository fixture into the test directory.
    pub fn copy(&self, rel: &str) -> PathBuf {
        let src = fixture(rel);
        let name = src.file_name().unwrap().to_str().unwrap().to_string();
        std::fs::copy(&src, self.path(&name)).unwrap();
        self.path(&name)
    }

    /// Runs `ajuste ARGS` in the test directory.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let output = Command::cargo_bin("ajuste")
            .unwrap()
            .current_dir(self.dir.path())
            .env("AJUSTE_NO_PROGRESS", "1")
            .args(args)
            .output()
            .unwrap();
        Run::from(output)
    }
}

/// Reads a JSON file into a value.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Reads a JSONL file into values.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
