//! `orchestrator secrets …`: read and change the SOPS+age encrypted secrets file natively (no sops binary).
//!
//! - `init --recipient AGE1…` creates an empty encrypted file (refuses to overwrite).
//! - `get PATH` prints one value (`llm.anthropic.api_key`, `deploy.keys[0]`); a map prints as YAML.
//! - `set PATH VALUE` sets a string (`--json` parses VALUE as JSON; `-` reads it from stdin).
//! - `edit` opens the decrypted file in `$EDITOR`, then re-encrypts. The plaintext lives only in a 0600
//!   file inside a private 0700 directory (on `/dev/shm` when available), is overwritten and removed on
//!   every exit path, and SIGINT/SIGTERM/SIGHUP are held off while the editor runs so cleanup always
//!   happens (only SIGKILL can skip it). An unchanged file or a failing editor changes nothing.
//! - `rotate` replaces the data key; `recipients list|add|remove` manage who can decrypt (remove rotates).
//!
//! The file comes from `--file` / `SECRETS_FILE` (default `secrets.yaml`); identities from sops's
//! conventions (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `~/.config/sops/age/keys.txt`). Writes are atomic
//! (temporary file + rename) and keep the file's permissions.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use orch_sops::{
    DecryptedFile, Document, Format, Identities, KeyPath, List, ListItem, Map, Recipient, SopsFile,
    Value,
};
use tokio::signal::unix::{Signal, SignalKind, signal};
use zeroize::Zeroizing;

/// `orchestrator secrets`.
#[derive(Debug, Args)]
pub struct SecretsArgs {
    /// The encrypted secrets file (YAML or JSON by extension).
    #[arg(
        long,
        env = "SECRETS_FILE",
        default_value = "secrets.yaml",
        global = true
    )]
    file: PathBuf,
    #[command(subcommand)]
    action: SecretsAction,
}

#[derive(Debug, Subcommand)]
enum SecretsAction {
    /// Create an empty encrypted file for the given age recipients.
    Init {
        /// An age recipient (`age1…`); repeat for several.
        #[arg(long = "recipient", required = true)]
        recipients: Vec<String>,
    },
    /// Print the value at PATH.
    Get {
        /// A key path such as `llm.anthropic.api_key` or `deploy.keys[0]`.
        path: String,
    },
    /// Set the value at PATH (creating maps on the way).
    Set {
        /// A key path.
        path: String,
        /// The value; `-` reads it from stdin (keeps it out of shell history).
        value: String,
        /// Parse VALUE as JSON (numbers, booleans, lists, maps) instead of taking it as a string.
        #[arg(long)]
        json: bool,
    },
    /// Edit the decrypted file in an editor, then re-encrypt it.
    Edit {
        /// The editor command (run through `sh`, so it may carry arguments).
        #[arg(long, env = "EDITOR", default_value = "vi")]
        editor: String,
    },
    /// Replace the data key and re-encrypt every value.
    Rotate,
    /// List, add or remove age recipients.
    Recipients {
        #[command(subcommand)]
        action: RecipientsAction,
    },
}

#[derive(Debug, Subcommand)]
enum RecipientsAction {
    /// Print the recipients.
    List,
    /// Let another age key decrypt the file.
    Add {
        /// The age recipient (`age1…`).
        recipient: String,
    },
    /// Stop a key from decrypting future versions (the data key is rotated).
    Remove {
        /// The age recipient (`age1…`).
        recipient: String,
    },
}

/// Runs `orchestrator secrets …`.
pub async fn run(args: SecretsArgs) -> anyhow::Result<ExitCode> {
    let file = args.file;
    match args.action {
        SecretsAction::Init { recipients } => init(&file, &recipients),
        SecretsAction::Get { path } => get(&file, &path),
        SecretsAction::Set { path, value, json } => set(&file, &path, &value, json),
        SecretsAction::Edit { editor } => edit(&file, &editor),
        SecretsAction::Rotate => change(&file, "rotated the data key", |f| Ok(f.rotate()?)),
        SecretsAction::Recipients { action } => recipients(&file, action),
    }
}

fn format_of(file: &Path) -> Format {
    Format::from_path(file).unwrap_or(Format::Yaml)
}

fn read(file: &Path) -> anyhow::Result<SopsFile> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    SopsFile::parse(&bytes, format_of(file))
        .with_context(|| format!("{} is not a sops file", file.display()))
}

fn open(file: &Path) -> anyhow::Result<DecryptedFile> {
    let identities = Identities::from_env().context("cannot load age identities")?;
    read(file)?
        .open(&identities)
        .with_context(|| format!("cannot decrypt {}", file.display()))
}

/// Writes `encrypted` to `file` atomically, keeping its permissions (0600 for a new file).
fn write(file: &Path, encrypted: &SopsFile) -> anyhow::Result<()> {
    let mode = std::fs::metadata(file).map_or(0o600, |m| m.permissions().mode());
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut staged = tempfile::Builder::new()
        .prefix(".secrets-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write next to {}", file.display()))?;
    staged.write_all(encrypted.to_string().as_bytes())?;
    staged.as_file().sync_all()?;
    std::fs::set_permissions(staged.path(), std::fs::Permissions::from_mode(mode))?;
    staged
        .persist(file)
        .with_context(|| format!("cannot replace {}", file.display()))?;
    Ok(())
}

/// Opens, applies `change`, re-encrypts and writes.
fn change(
    file: &Path,
    done: &str,
    change: impl FnOnce(&mut DecryptedFile) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let mut opened = open(file)?;
    change(&mut opened)?;
    write(file, &opened.encrypt()?)?;
    eprintln!("{done} in {}", file.display());
    Ok(ExitCode::SUCCESS)
}

fn init(file: &Path, recipients: &[String]) -> anyhow::Result<ExitCode> {
    if file.exists() {
        bail!(
            "{} already exists; use `orchestrator secrets recipients add` to share it",
            file.display()
        );
    }
    let recipients = recipients
        .iter()
        .map(|r| Recipient::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    let encrypted = orch_sops::encrypt(&Document::default(), &recipients, format_of(file))?;
    write(file, &encrypted)?;
    eprintln!(
        "created {} for {} recipient(s)",
        file.display(),
        recipients.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn get(file: &Path, path: &str) -> anyhow::Result<ExitCode> {
    let path = KeyPath::parse(path)?;
    let document = open(file)?.into_document();
    let value = document
        .get(&path)
        .with_context(|| format!("no value at {path}"))?;
    let text = match value {
        Value::Map(map) => Document::new(map.clone()).to_text(format_of(file))?,
        Value::List(_) => bail!("{path} is a list; get one item (`{path}[0]`) or use `edit`"),
        scalar => scalar_text(scalar)?,
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn scalar_text(value: &Value) -> anyhow::Result<Zeroizing<String>> {
    Ok(Zeroizing::new(match value {
        Value::Str(text) => text.expose().to_owned(),
        Value::Int(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Time(t) => t.to_rfc3339(),
        Value::Null => "null".to_owned(),
        Value::Bytes(b) => String::from_utf8(b.expose().to_vec()).context("the value is binary")?,
        Value::Map(_) | Value::List(_) => bail!("not a single value"),
    }))
}

fn set(file: &Path, path: &str, value: &str, json: bool) -> anyhow::Result<ExitCode> {
    let path = KeyPath::parse(path)?;
    let text = if value == "-" {
        let mut text = Zeroizing::new(String::new());
        std::io::stdin().read_to_string(&mut text)?;
        Zeroizing::new(text.trim_end_matches('\n').to_owned())
    } else {
        Zeroizing::new(value.to_owned())
    };
    let value = if json {
        from_json(serde_json::from_str(&text).context("VALUE is not JSON")?)
    } else {
        Value::string(text.as_str())
    };
    change(file, &format!("set {path}"), |f| Ok(f.set(&path, value)?))
}

fn from_json(value: serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN))),
        serde_json::Value::String(s) => Value::string(s),
        serde_json::Value::Array(items) => Value::List(List::from_items(
            items
                .into_iter()
                .map(|v| ListItem::Value(from_json(v)))
                .collect(),
        )),
        serde_json::Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                out.insert(key, from_json(value));
            }
            Value::Map(out)
        }
    }
}

fn recipients(file: &Path, action: RecipientsAction) -> anyhow::Result<ExitCode> {
    match action {
        RecipientsAction::List => {
            for recipient in read(file)?.recipients() {
                println!("{recipient}");
            }
            Ok(ExitCode::SUCCESS)
        }
        RecipientsAction::Add { recipient } => {
            let parsed = Recipient::parse(&recipient)?;
            change(file, &format!("added {recipient}"), |f| {
                Ok(f.add_recipient(&parsed)?)
            })
        }
        RecipientsAction::Remove { recipient } => change(
            file,
            &format!("removed {recipient} and rotated the data key"),
            |f| Ok(f.remove_recipient(&recipient)?),
        ),
    }
}

/// The plaintext copy being edited: overwritten and removed (with its private directory) on drop.
struct Scratch {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Scratch {
    fn create(file: &Path, plain: &str) -> anyhow::Result<Self> {
        let shm = Path::new("/dev/shm");
        let mut builder = tempfile::Builder::new();
        builder
            .prefix("orchestrator-secrets-")
            .permissions(std::fs::Permissions::from_mode(0o700));
        // A private 0700 directory, on RAM-backed /dev/shm when possible so plaintext never hits a disk.
        let dir = match builder.tempdir_in(shm) {
            Ok(dir) => dir,
            Err(_) => builder
                .tempdir()
                .context("cannot create a private directory")?,
        };
        let name = file.file_name().unwrap_or("secrets.yaml".as_ref());
        let path = dir.path().join(name);
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .context("cannot create the scratch file")?;
        let scratch = Self {
            dir: Some(dir),
            path,
        };
        out.write_all(plain.as_bytes())?;
        out.sync_all()?;
        Ok(scratch)
    }

    fn read(&self) -> anyhow::Result<Zeroizing<String>> {
        let mut text = Zeroizing::new(String::new());
        std::fs::File::open(&self.path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .context("cannot read the edited file")?;
        Ok(text)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::metadata(&self.path) {
            let zeros = vec![0u8; usize::try_from(meta.len()).unwrap_or(0)];
            let _ = std::fs::write(&self.path, zeros);
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

/// Holds SIGINT/SIGTERM/SIGHUP off (they are recorded, not fatal) while alive.
fn hold_signals() -> anyhow::Result<[Signal; 3]> {
    Ok([
        signal(SignalKind::interrupt())?,
        signal(SignalKind::terminate())?,
        signal(SignalKind::hangup())?,
    ])
}

fn edit(file: &Path, editor: &str) -> anyhow::Result<ExitCode> {
    let mut opened = open(file)?;
    let format = format_of(file);
    let plain = opened.document().to_text(format)?;
    let _held = hold_signals()?;
    let scratch = Scratch::create(file, &plain)?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("orchestrator-secrets-editor")
        .arg(&scratch.path)
        .status()
        .with_context(|| format!("cannot start the editor `{editor}`"))?;
    if !status.success() {
        bail!(
            "the editor `{editor}` failed ({status}); {} is unchanged",
            file.display()
        );
    }
    let edited = scratch.read()?;
    drop(scratch);
    if *edited == *plain {
        eprintln!("no changes; {} is unchanged", file.display());
        return Ok(ExitCode::SUCCESS);
    }
    let document = Document::parse(&edited, format).with_context(|| {
        format!(
            "the edited text does not parse; {} is unchanged",
            file.display()
        )
    })?;
    *opened.document_mut() = document;
    write(file, &opened.encrypt()?)?;
    eprintln!("saved {}", file.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_keep_their_types() {
        let value =
            from_json(serde_json::json!({"port": 8080, "ratio": 0.5, "on": true, "tags": ["a"]}));
        let Value::Map(map) = value else {
            panic!("a map")
        };
        assert!(matches!(map.get("port"), Some(Value::Int(8080))));
        assert!(matches!(map.get("ratio"), Some(Value::Float(f)) if *f == 0.5));
        assert!(matches!(map.get("on"), Some(Value::Bool(true))));
        assert!(
            matches!(map.get("tags"), Some(Value::List(l)) if l.get(0).and_then(Value::as_str) == Some("a"))
        );
    }

    #[test]
    fn scratch_files_are_private_and_vanish() {
        let scratch = Scratch::create(Path::new("x/secrets.yaml"), "a: b\n").expect("creates");
        let path = scratch.path.clone();
        let dir = path.parent().expect("dir").to_owned();
        assert_eq!(
            std::fs::metadata(&path).expect("file").permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&dir).expect("dir").permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(scratch.read().expect("reads").as_str(), "a: b\n");
        drop(scratch);
        assert!(!path.exists() && !dir.exists());
    }
}
