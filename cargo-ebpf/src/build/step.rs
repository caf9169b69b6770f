//! The one step runner every language's build goes through: is the output
//! fresh? if not, say so, run the command, move its output into place and
//! record how it was made.
//!
//! An output is fresh when it is newer than every input and its command line
//! is the one recorded beside it (`<output>.cmd`), so a changed flag rebuilds
//! as surely as a changed source, and a second build with nothing changed
//! runs no compiler.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::{mtime, write_atomic};

/// Shorthand for building argument vectors.
pub fn os(v: impl Into<OsString>) -> OsString {
    v.into()
}

/// Where a step's command leaves what it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Produces {
    /// The command writes the output itself.
    InPlace,
    /// The command writes this file, renamed over the output once the
    /// command succeeded (no half-written output is ever left).
    Temp(PathBuf),
    /// The command prints the output on stdout.
    Stdout,
}

/// One command that makes one output.
#[derive(Debug, Clone)]
pub struct Step {
    /// For errors: "compiling src/x.bpf.c".
    pub what: String,
    pub argv: Vec<OsString>,
    pub output: PathBuf,
    pub produces: Produces,
    /// Files the output depends on.
    pub inputs: Vec<PathBuf>,
    /// Rebuild even when fresh (an input made in this build).
    pub force: bool,
    /// The progress line shown when it runs: verb and what.
    pub verb: &'static str,
    pub message: String,
    pub env: Vec<(&'static str, OsString)>,
    pub dir: PathBuf,
}

impl Step {
    pub fn new(what: impl Into<String>, argv: Vec<OsString>, output: PathBuf) -> Step {
        Step {
            what: what.into(),
            argv,
            output,
            produces: Produces::InPlace,
            inputs: Vec::new(),
            force: false,
            verb: "Compiling",
            message: String::new(),
            env: Vec::new(),
            dir: PathBuf::from("."),
        }
    }

    pub fn produces(mut self, produces: Produces) -> Step {
        self.produces = produces;
        self
    }

    pub fn inputs(mut self, inputs: Vec<PathBuf>) -> Step {
        self.inputs = inputs;
        self
    }

    pub fn force(mut self, force: bool) -> Step {
        self.force = force;
        self
    }

    pub fn shows(mut self, verb: &'static str, message: impl Into<String>) -> Step {
        self.verb = verb;
        self.message = message.into();
        self
    }

    pub fn env(mut self, env: &[(&'static str, OsString)]) -> Step {
        self.env = env.to_vec();
        self
    }

    pub fn dir(mut self, dir: &Path) -> Step {
        self.dir = dir.to_path_buf();
        self
    }

    /// Whether the output is up to date with the inputs and was made by
    /// this command line.
    pub fn is_fresh(&self) -> bool {
        !self.force && fresh(&self.output, &self.argv, &self.inputs)
    }
}

/// Runs tools, prints progress and counts what it ran.
#[derive(Debug)]
pub struct StepRunner {
    progress: bool,
    commands_run: usize,
    out_dir: PathBuf,
}

impl StepRunner {
    /// `progress`: status lines on stderr (off in JSON mode, where a
    /// tool's stdout also goes to stderr to keep stdout for JSON).
    pub fn new(out_dir: PathBuf, progress: bool) -> StepRunner {
        StepRunner {
            progress,
            commands_run: 0,
            out_dir,
        }
    }

    /// Where outputs go: `target/ebpf/<arch>/`.
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    pub fn commands_run(&self) -> usize {
        self.commands_run
    }

    /// Counts work done without a command (a header written in-process).
    pub fn count(&mut self) {
        self.commands_run += 1;
    }

    pub fn status(&self, verb: &str, what: impl std::fmt::Display) {
        if self.progress {
            eprintln!("{verb:>12} {what}");
        }
    }

    /// Runs `step` unless its output is fresh; returns whether it ran.
    pub fn step(&mut self, step: &Step) -> Result<bool> {
        if step.is_fresh() {
            return Ok(false);
        }
        self.status(step.verb, &step.message);
        let capture = step.produces == Produces::Stdout;
        let stdout = self.exec(&step.what, &step.argv, &step.env, &step.dir, capture)?;
        match &step.produces {
            Produces::InPlace => {}
            Produces::Temp(tmp) => {
                std::fs::rename(tmp, &step.output).map_err(Error::io("write", &step.output))?
            }
            Produces::Stdout => write_atomic(&step.output, &stdout, false)?,
        }
        record(&step.output, &step.argv)?;
        Ok(true)
    }

    /// Runs a command that is not a step (`go generate`, `cargo build`).
    pub fn run(
        &mut self,
        what: &str,
        argv: &[OsString],
        env: &[(&str, OsString)],
        dir: &Path,
    ) -> Result<()> {
        self.exec(what, argv, env, dir, false).map(drop)
    }

    /// Runs a command and returns its stdout; its stderr passes through.
    pub fn run_capturing_stdout(
        &mut self,
        what: &str,
        argv: &[OsString],
        env: &[(&str, OsString)],
        dir: &Path,
    ) -> Result<Vec<u8>> {
        self.exec(what, argv, env, dir, true)
    }

    /// Runs `argv` in `dir`. Its stderr passes through, so compiler errors
    /// are shown as the compiler printed them; its stdout is returned when
    /// `capture`, else passed through (to stderr in JSON mode).
    fn exec(
        &mut self,
        what: &str,
        argv: &[OsString],
        env: &[(&str, OsString)],
        dir: &Path,
        capture: bool,
    ) -> Result<Vec<u8>> {
        self.commands_run += 1;
        let mut cmd = duct::cmd(&argv[0], &argv[1..]).dir(dir).unchecked();
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        if capture {
            cmd = cmd.stdout_capture();
        } else if !self.progress {
            cmd = cmd.stdout_to_stderr();
        }
        let out = cmd.run().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::usage(format!(
                    "failed to run {}: not found",
                    Path::new(&argv[0]).display()
                ))
            } else {
                Error::io("run", PathBuf::from(&argv[0]))(e)
            }
        })?;
        if !out.status.success() {
            return Err(Error::ToolFailed {
                what: what.to_string(),
                command: shell_line(argv),
                status: out.status.to_string(),
            });
        }
        Ok(out.stdout)
    }
}

/// A command line as a shell would read it back.
pub fn shell_line(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if s.is_empty() || s.contains([' ', '"', '\'', '$']) {
                format!("'{}'", s.replace('\'', "'\\''"))
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The freshness record of an output: its command line.
fn cmd_file(out: &Path) -> PathBuf {
    let mut p = out.as_os_str().to_owned();
    p.push(".cmd");
    PathBuf::from(p)
}

/// Whether `out` is up to date with `inputs` and was made by `argv`.
pub fn fresh(out: &Path, argv: &[OsString], inputs: &[PathBuf]) -> bool {
    let Some(built) = mtime(out) else {
        return false;
    };
    match std::fs::read_to_string(cmd_file(out)) {
        Ok(line) if line == shell_line(argv) => {}
        _ => return false,
    }
    inputs.iter().all(|i| mtime(i).is_some_and(|t| t <= built))
}

fn record(out: &Path, argv: &[OsString]) -> Result<()> {
    write_atomic(&cmd_file(out), shell_line(argv).as_bytes(), false)
}

/// The prerequisites listed in a Makefile-style depfile written by clang/gcc.
pub fn depfile_inputs(dep: &Path) -> Option<Vec<PathBuf>> {
    parse_depfile(&std::fs::read_to_string(dep).ok()?)
}

fn parse_depfile(text: &str) -> Option<Vec<PathBuf>> {
    let joined = text.replace("\\\n", " ");
    let (_, deps) = joined.split_once(": ")?;
    Some(deps.split_whitespace().map(PathBuf::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn set_mtime(path: &Path, t: SystemTime) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    /// A step that copies `src` to its output through a temp file, the way
    /// a compiler is run.
    fn copy_step(dir: &Path, src: &Path, extra_flag: Option<&str>) -> Step {
        let out = dir.join("out.o");
        let tmp = dir.join(".out.o.tmp");
        let mut argv = vec![os("cp"), src.into(), tmp.clone().into()];
        argv.extend(extra_flag.map(os));
        Step::new("copying", argv, out)
            .produces(Produces::Temp(tmp))
            .inputs(vec![src.to_path_buf()])
            .dir(dir)
    }

    #[test]
    fn a_step_runs_once_then_is_fresh_until_an_input_or_the_command_changes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.c");
        std::fs::write(&src, "one").unwrap();
        let mut runner = StepRunner::new(dir.path().to_path_buf(), false);

        let step = copy_step(dir.path(), &src, None);
        assert!(runner.step(&step).unwrap(), "first build runs");
        assert_eq!(std::fs::read_to_string(&step.output).unwrap(), "one");
        assert!(!dir.path().join(".out.o.tmp").exists(), "temp renamed away");
        assert!(!runner.step(&step).unwrap(), "second build is fresh");
        assert_eq!(runner.commands_run(), 1);

        // A newer input rebuilds.
        std::fs::write(&src, "two").unwrap();
        set_mtime(&src, SystemTime::now() + Duration::from_secs(5));
        assert!(runner.step(&step).unwrap());
        assert_eq!(std::fs::read_to_string(&step.output).unwrap(), "two");
        set_mtime(&src, SystemTime::now() - Duration::from_secs(60));
        assert!(!runner.step(&step).unwrap());

        // A changed command line rebuilds, though no input changed. (cp
        // takes the extra operand as its destination directory.)
        let changed = copy_step(dir.path(), &src, Some("."));
        assert!(!changed.is_fresh());
        assert!(!step.force(true).is_fresh(), "a forced step is never fresh");
    }

    #[test]
    fn a_failing_step_leaves_no_output_and_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.o");
        let mut runner = StepRunner::new(dir.path().to_path_buf(), false);
        let step = Step::new("failing", vec![os("false")], out.clone()).dir(dir.path());
        let err = runner.step(&step).unwrap_err();
        assert!(
            matches!(&err, Error::ToolFailed { what, command, .. } if what == "failing" && command == "false"),
            "{err:?}"
        );
        assert!(!out.exists());
        assert!(!cmd_file(&out).exists());
        assert!(!step.is_fresh());
    }

    #[test]
    fn a_stdout_step_writes_what_the_command_printed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("skel.h");
        let mut runner = StepRunner::new(dir.path().to_path_buf(), false);
        let step = Step::new("echoing", vec![os("echo"), os("hello world")], out.clone())
            .produces(Produces::Stdout);
        assert!(runner.step(&step).unwrap());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello world\n");
        assert_eq!(
            std::fs::read_to_string(cmd_file(&out)).unwrap(),
            "echo 'hello world'"
        );
        assert!(!runner.step(&step).unwrap());
    }

    #[test]
    fn a_missing_tool_is_a_usage_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut runner = StepRunner::new(dir.path().to_path_buf(), false);
        let step = Step::new("x", vec![os("no-such-tool-xyz")], dir.path().join("o"));
        let err = runner.step(&step).unwrap_err().to_string();
        assert!(err.contains("no-such-tool-xyz: not found"), "{err}");
    }

    #[test]
    fn depfiles_and_shell_lines() {
        let deps = parse_depfile("out.o: a.c \\\n  b.h c.h\n").unwrap();
        assert_eq!(deps, ["a.c", "b.h", "c.h"].map(PathBuf::from));
        assert_eq!(parse_depfile("no colon"), None);
        let line = shell_line(&[os("cc"), os("-DX=a b"), os("it's"), os("")]);
        assert_eq!(line, r#"cc '-DX=a b' 'it'\''s' ''"#);
    }
}
