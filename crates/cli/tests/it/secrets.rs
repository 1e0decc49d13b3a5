//! `orchestrator secrets …` as a process, on files that real sops 3.11 (`SOPS_BIN`, else the venv of
//! `scripts/install-sops.sh`, else `PATH`) decrypts, and on files that real sops wrote.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use secrecy::ExposeSecret;

/// One age key: its key file and public recipient.
struct Key {
    file: PathBuf,
    recipient: String,
}

struct Env {
    dir: tempfile::TempDir,
    a: Key,
    b: Key,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = |name: &str| {
            let identity = orch_sops::AgeIdentity::generate();
            let file = dir.path().join(format!("{name}.txt"));
            std::fs::write(&file, identity.to_string().expose_secret()).expect("key");
            Key {
                file,
                recipient: identity.to_public().to_string(),
            }
        };
        let (a, b) = (key("a"), key("b"));
        Self { dir, a, b }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("secrets.yaml")
    }

    /// Runs the CLI with `key`'s identity and `SECRETS_FILE` pointing at the test file.
    fn cli(&self, key: &Key, args: &[&str]) -> Output {
        self.command(key, args).output().expect("runs")
    }

    fn command(&self, key: &Key, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_orchestrator"));
        command
            .arg("secrets")
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("SOPS_AGE_KEY")
            .env_remove("XDG_CONFIG_HOME")
            .env("SOPS_AGE_KEY_FILE", &key.file)
            .env("SECRETS_FILE", self.file());
        command
    }

    fn ok(&self, key: &Key, args: &[&str]) -> String {
        let out = self.cli(key, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn fails(&self, key: &Key, args: &[&str]) -> String {
        let out = self.cli(key, args);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn sops(&self, key: &Key, args: &[&str]) -> String {
        let out = Command::new(sops_bin())
            .arg("--disable-version-check")
            .args(args)
            .env("SOPS_AGE_KEY_FILE", &key.file)
            .env_remove("SOPS_AGE_KEY")
            .current_dir(self.dir.path())
            .output()
            .expect("runs sops");
        assert!(
            out.status.success(),
            "sops {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

fn sops_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SOPS_BIN") {
        return bin.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let venv = Path::new(&home).join(".cache/codegen-orchestrator/sops-venv/bin/sops");
    if venv.is_file() {
        return venv;
    }
    let on_path = Command::new("sops").arg("--version").output();
    assert!(
        on_path.is_ok(),
        "real sops 3.11 is needed: run `scripts/install-sops.sh` (or set SOPS_BIN)"
    );
    PathBuf::from("sops")
}

#[test]
fn init_set_get_rotate_and_real_sops_decrypts() {
    let env = Env::new();
    env.ok(&env.a, &["init", "--recipient", &env.a.recipient]);
    assert!(
        env.fails(&env.a, &["init", "--recipient", &env.a.recipient])
            .contains("already exists")
    );
    assert_eq!(
        std::fs::metadata(env.file())
            .expect("file")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    env.ok(&env.a, &["set", "llm.anthropic.api_key", "sk-ant-cli"]);
    env.ok(&env.a, &["set", "app.port", "8080", "--json"]);
    let mut piped = env.command(&env.a, &["set", "telegram.token", "-"]);
    let mut child = piped
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), b"123:from-stdin\n")
        .expect("writes");
    assert!(child.wait().expect("waits").success());
    assert_eq!(
        env.ok(&env.a, &["get", "llm.anthropic.api_key"]),
        "sk-ant-cli\n"
    );
    assert_eq!(env.ok(&env.a, &["get", "app.port"]), "8080\n");
    assert_eq!(
        env.ok(&env.a, &["get", "telegram.token"]),
        "123:from-stdin\n"
    );
    assert!(
        env.ok(&env.a, &["get", "llm"])
            .contains("api_key: sk-ant-cli")
    );
    assert!(
        env.fails(&env.a, &["get", "llm.nope"])
            .contains("no value at llm.nope")
    );
    let on_disk = std::fs::read_to_string(env.file()).expect("read");
    assert!(!on_disk.contains("sk-ant-cli") && on_disk.contains("ENC[AES256_GCM"));

    let before = std::fs::read_to_string(env.file()).expect("read");
    env.ok(&env.a, &["rotate"]);
    let after = std::fs::read_to_string(env.file()).expect("read");
    let enc_line = |text: &str| {
        text.lines()
            .find(|l| l.contains("api_key"))
            .unwrap_or("")
            .to_owned()
    };
    assert_ne!(
        enc_line(&before),
        enc_line(&after),
        "rotation re-encrypts every value"
    );

    let decrypted = env.sops(&env.a, &["--decrypt", "secrets.yaml"]);
    assert!(decrypted.contains("api_key: sk-ant-cli"), "{decrypted}");
    assert!(decrypted.contains("port: 8080"), "{decrypted}");
    assert!(decrypted.contains("token: 123:from-stdin"), "{decrypted}");
    let port = env.sops(
        &env.a,
        &[
            "--decrypt",
            "--extract",
            "[\"app\"][\"port\"]",
            "secrets.yaml",
        ],
    );
    assert_eq!(port.trim(), "8080");
}

#[test]
fn recipients_are_added_and_removed() {
    let env = Env::new();
    env.ok(&env.a, &["init", "--recipient", &env.a.recipient]);
    env.ok(&env.a, &["set", "db.password", "pw-1"]);
    assert!(
        env.fails(&env.b, &["get", "db.password"])
            .contains("cannot decrypt")
    );
    env.ok(&env.a, &["recipients", "add", &env.b.recipient]);
    let listed = env.ok(&env.b, &["recipients", "list"]);
    assert!(
        listed.contains(&env.a.recipient) && listed.contains(&env.b.recipient),
        "{listed}"
    );
    assert_eq!(env.ok(&env.b, &["get", "db.password"]), "pw-1\n");
    assert!(
        env.sops(&env.b, &["--decrypt", "secrets.yaml"])
            .contains("password: pw-1")
    );
    env.ok(&env.b, &["recipients", "remove", &env.a.recipient]);
    assert!(
        env.fails(&env.a, &["get", "db.password"])
            .contains("cannot decrypt")
    );
    assert_eq!(env.ok(&env.b, &["get", "db.password"]), "pw-1\n");
    assert!(
        env.fails(&env.b, &["recipients", "remove", &env.b.recipient])
            .contains("last")
    );
    assert!(
        env.fails(&env.b, &["recipients", "add", "age1nonsense"])
            .contains("age1nonsense")
    );
}

/// An editor script that records the path and mode of the file it was given, then runs `action`.
fn editor(env: &Env, action: &str) -> (String, PathBuf) {
    let record = env.dir.path().join("editor-record");
    let script = env.dir.path().join(format!("editor-{}.sh", rand_suffix()));
    let body = format!(
        "#!/bin/sh\nprintf '%s\\n%s\\n%s\\n' \"$1\" \"$(stat -c %a \"$1\")\" \"$(stat -c %a \"$(dirname \"$1\")\")\" > {}\n{action}\n",
        record.display()
    );
    std::fs::write(&script, body).expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script.display().to_string(), record)
}

fn rand_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

fn edit(env: &Env, editor: &str) -> Output {
    env.command(&env.a, &["edit"])
        .env("EDITOR", editor)
        .output()
        .expect("runs")
}

/// Checks the scratch copy was 0600 in a 0700 directory and is gone with its directory.
fn assert_scratch_gone(record: &Path) {
    let text = std::fs::read_to_string(record).expect("the editor ran");
    let mut lines = text.lines();
    let scratch = PathBuf::from(lines.next().expect("path"));
    assert_eq!(lines.next(), Some("600"), "scratch file mode");
    assert_eq!(lines.next(), Some("700"), "scratch directory mode");
    assert!(!scratch.exists(), "plaintext left at {}", scratch.display());
    assert!(
        !scratch.parent().expect("dir").exists(),
        "scratch directory left behind"
    );
}

#[test]
fn edit_saves_changes_and_leaves_no_plaintext_behind() {
    let env = Env::new();
    env.ok(&env.a, &["init", "--recipient", &env.a.recipient]);
    env.ok(&env.a, &["set", "greeting", "old-value"]);

    let (script, record) = editor(&env, "sed -i 's/old-value/new-value/' \"$1\"");
    let out = edit(&env, &script);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.ok(&env.a, &["get", "greeting"]), "new-value\n");
    assert_scratch_gone(&record);
    assert!(
        env.sops(&env.a, &["--decrypt", "secrets.yaml"])
            .contains("greeting: new-value")
    );

    let unchanged = std::fs::read(env.file()).expect("read");
    let (script, record) = editor(&env, "true");
    let out = edit(&env, &script);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no changes"));
    assert_eq!(
        std::fs::read(env.file()).expect("read"),
        unchanged,
        "an unchanged edit does not rewrite"
    );
    assert_scratch_gone(&record);

    let (script, record) = editor(&env, "echo 'greeting: scratch-change' > \"$1\"; exit 3");
    let out = edit(&env, &script);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(env.file()).expect("read"),
        unchanged,
        "a failed editor changes nothing"
    );
    assert_scratch_gone(&record);

    let (script, record) = editor(&env, "echo 'greeting: [broken' > \"$1\"");
    let out = edit(&env, &script);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not parse"));
    assert_eq!(std::fs::read(env.file()).expect("read"), unchanged);
    assert_scratch_gone(&record);
}

#[test]
fn files_written_by_real_sops_are_read_and_changed() {
    let env = Env::new();
    std::fs::write(
        env.dir.path().join("plain.yaml"),
        "api:\n    key: from-sops\n",
    )
    .expect("plain");
    let encrypted = env.sops(
        &env.a,
        &["--encrypt", "--age", &env.a.recipient, "plain.yaml"],
    );
    std::fs::write(env.file(), encrypted).expect("write");
    assert_eq!(env.ok(&env.a, &["get", "api.key"]), "from-sops\n");
    env.ok(&env.a, &["set", "api.second", "by-cli"]);
    let decrypted = env.sops(&env.a, &["--decrypt", "secrets.yaml"]);
    assert!(
        decrypted.contains("key: from-sops") && decrypted.contains("second: by-cli"),
        "{decrypted}"
    );
}
