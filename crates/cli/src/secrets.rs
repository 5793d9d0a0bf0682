//! Reading secrets: a file, a command named by an environment variable, an environment
//! variable, or the terminal, in that order. Secrets are held in zeroizing buffers and never
//! printed.
//!
//! The command (`$LIFEBOAT_PASSWORD_COMMAND` for `$LIFEBOAT_PASSWORD`,
//! `$LIFEBOAT_TO_PASSWORD_COMMAND` for `$LIFEBOAT_TO_PASSWORD`) is what restic's
//! `--password-command` is: split into words as a POSIX shell would split them (quotes and
//! backslashes, no expansion, no pipes: `sh -c '...'` when a shell is wanted) and run with
//! our stderr and no stdin (ours may be the data of `backup stdin`); `pass show backup` or a
//! `gpg --decrypt` asks through pinentry on the terminal as usual.
//! Its standard output, less one trailing newline, is the secret. A failure names the
//! variable and the program, never what the command printed.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use lifeboat_ops::credentials::{PasswordError, PasswordSource};
use zeroize::Zeroizing;

/// Where one secret may come from.
pub struct SecretSource {
    /// A file whose first line is the secret.
    pub file: Option<PathBuf>,
    /// An environment variable.
    pub env: &'static str,
    /// What to call it when prompting.
    pub prompt: &'static str,
}

impl SecretSource {
    /// Reads the secret.
    pub fn read(&self) -> Result<Zeroizing<String>> {
        if let Some(path) = &self.file {
            tracing::debug!(file = %path.display(), "{} from a file", self.prompt);
            return Ok(lifeboat_ops::credentials::read_password_file(path)?);
        }
        // The environment and the terminal, as the library's resolution would consult them.
        let mut source = SecretSource { file: None, env: self.env, prompt: self.prompt };
        if let Some(offered) = source.offered() {
            return offered.map_err(anyhow::Error::from_boxed);
        }
        match source.ask() {
            Some(asked) => asked.map_err(anyhow::Error::from_boxed),
            None => {
                let env = self.env;
                bail!(
                    "no {} given: set ${env}, ${env}_COMMAND or pass a password file (no terminal to ask on)",
                    self.prompt
                )
            }
        }
    }
}

/// The environment variable, then the terminal: what the CLI offers and asks when the
/// library's credential resolution gets that far (the library never reads a terminal).
impl PasswordSource for SecretSource {
    fn offered(&mut self) -> Option<Result<Zeroizing<String>, PasswordError>> {
        // Where the secret came from is logged (with -vv), never the secret itself.
        if let Some(command) = std::env::var_os(command_variable(self.env)) {
            tracing::debug!(source = %command_variable(self.env), "{} from a command", self.prompt);
            return Some(run_password_command(self.env, &command));
        }
        let value = std::env::var_os(self.env)?;
        tracing::debug!(source = %self.env, "{} from the environment", self.prompt);
        Some(match value.into_string() {
            Err(_) => Err(format!("${} is not UTF-8", self.env).into()),
            Ok(value) if value.is_empty() => Err(format!("${} is set but empty", self.env).into()),
            Ok(value) => Ok(Zeroizing::new(value)),
        })
    }

    fn ask(&mut self) -> Option<Result<Zeroizing<String>, PasswordError>> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        Some(match rpassword::prompt_password(format!("{}: ", self.prompt)) {
            Err(e) => Err(anyhow::Error::new(e).context("cannot read the password from the terminal").into()),
            Ok(answer) if answer.is_empty() => Err(format!("empty {}", self.prompt).into()),
            Ok(answer) => Ok(Zeroizing::new(answer)),
        })
    }
}

/// Reads a new password: from a file or variable as given, or asked twice on the terminal.
pub fn new_password(file: Option<PathBuf>, env: &'static str) -> Result<Zeroizing<String>> {
    let source = SecretSource { file, env, prompt: "new password" };
    let given = std::env::var_os(env).is_some() || std::env::var_os(command_variable(env)).is_some();
    if source.file.is_some() || given || !std::io::stderr().is_terminal() {
        return source.read();
    }
    let first = source.read()?;
    let again =
        Zeroizing::new(rpassword::prompt_password("repeat the new password: ").context("cannot read the password")?);
    if *first != *again {
        bail!("the passwords differ");
    }
    Ok(first)
}

/// Creates a file readable only by its owner, refusing to overwrite one.
pub fn write_secret_file(path: &Path, content: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(content).and_then(|()| file.sync_all()).with_context(|| format!("cannot write {}", path.display()))
}

/// The variable naming the command that gives the secret of `env`: `LIFEBOAT_PASSWORD` ->
/// `LIFEBOAT_PASSWORD_COMMAND`. (`main` has removed it when set to the empty string.)
fn command_variable(env: &str) -> String {
    format!("{env}_COMMAND")
}

/// Runs the password command of `$env` (see the module documentation) and returns what it
/// printed, less one trailing newline.
fn run_password_command(env: &str, command: &std::ffi::OsStr) -> Result<Zeroizing<String>, PasswordError> {
    let variable = command_variable(env);
    let command = command.to_str().ok_or_else(|| format!("${variable} is not UTF-8"))?;
    let words =
        shlex::split(command).ok_or_else(|| format!("${variable} has an unclosed quote or a trailing backslash"))?;
    let (program, args) = words.split_first().ok_or_else(|| format!("${variable} names no program"))?;
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {program:?} (${variable}): {e}"))?;
    // Held zeroizing from here on, also when it turns out not to be a password.
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        return Err(format!("{program:?} (${variable}) failed ({}); its output is not shown", output.status).into());
    }
    let text = std::str::from_utf8(&stdout)
        .map_err(|_| format!("{program:?} (${variable}) printed a password that is not UTF-8"))?;
    let password = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(text);
    if password.is_empty() {
        return Err(format!("{program:?} (${variable}) printed no password").into());
    }
    Ok(Zeroizing::new(password.to_owned()))
}
