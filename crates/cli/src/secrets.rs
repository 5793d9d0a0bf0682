//! Reading secrets: a file, an environment variable, or the terminal, in that order.
//! Secrets are held in zeroizing buffers and never printed.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
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
            return read_first_line(path);
        }
        if let Some(value) = std::env::var_os(self.env) {
            let value = Zeroizing::new(value.into_string().map_err(|_| anyhow::anyhow!("${} is not UTF-8", self.env))?);
            if value.is_empty() {
                bail!("${} is set but empty", self.env);
            }
            return Ok(value);
        }
        if std::io::stderr().is_terminal() {
            let answer = Zeroizing::new(
                rpassword::prompt_password(format!("{}: ", self.prompt))
                    .context("cannot read the password from the terminal")?,
            );
            if answer.is_empty() {
                bail!("empty {}", self.prompt);
            }
            return Ok(answer);
        }
        bail!("no {} given: set ${} or pass a password file (no terminal to ask on)", self.prompt, self.env)
    }
}

/// Reads a new password: from a file or variable as given, or asked twice on the terminal.
pub fn new_password(file: Option<PathBuf>, env: &'static str) -> Result<Zeroizing<String>> {
    let source = SecretSource { file, env, prompt: "new password" };
    if source.file.is_some() || std::env::var_os(env).is_some() || !std::io::stderr().is_terminal() {
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

fn read_first_line(path: &Path) -> Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("cannot read password file {}", path.display()))?,
    );
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        bail!("password file {} is empty", path.display());
    }
    Ok(Zeroizing::new(line.to_owned()))
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
