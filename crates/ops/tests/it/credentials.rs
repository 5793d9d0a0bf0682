//! The order a repository credential is chosen in (key file, identity file, password file,
//! offered password, write-only recipients, asking), that the frontend is asked only when
//! nothing else gives one, and that errors name the file but never its content.

use std::path::PathBuf;

use lifeboat_crypto::{Identity, WriterKey};
use lifeboat_ops::credentials::{
    CredentialError, CredentialSource, GivenPassword, OpenSettings, PasswordError, PasswordSource, resolve,
};
use lifeboat_repo::Credential;
use zeroize::Zeroizing;

/// A frontend that records whether it was consulted.
#[derive(Default)]
struct Frontend {
    offer: Option<Result<&'static str, &'static str>>,
    answer: Option<&'static str>,
    offered_calls: usize,
    asked_calls: usize,
}

impl PasswordSource for Frontend {
    fn offered(&mut self) -> Option<Result<Zeroizing<String>, PasswordError>> {
        self.offered_calls += 1;
        self.offer.map(|o| o.map(|p| Zeroizing::new(p.to_owned())).map_err(PasswordError::from))
    }

    fn ask(&mut self) -> Option<Result<Zeroizing<String>, PasswordError>> {
        self.asked_calls += 1;
        self.answer.map(|a| Ok(Zeroizing::new(a.to_owned())))
    }
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files { dir: tempfile::tempdir().unwrap() }
    }

    fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn identity(&self) -> (PathBuf, String) {
        let identity = Identity::generate().unwrap();
        (self.write("identity", identity.to_text().as_bytes()), identity.public().to_string())
    }
}

fn kind(c: &Credential) -> &'static str {
    match c {
        Credential::Password(_) => "password",
        Credential::KeyFile(_) => "key file",
        Credential::Identity(_) => "identity",
        Credential::WriteOnly(_) => "write-only",
    }
}

fn password(c: &Credential) -> &str {
    match c {
        Credential::Password(p) => p.as_str(),
        other => panic!("expected a password, got {other:?}"),
    }
}

#[test]
fn a_key_file_comes_first() {
    let files = Files::new();
    let (identity, public) = files.identity();
    let source = CredentialSource {
        key_file: Some(files.write("key", b"0123456789abcdef0123456789abcdef")),
        identity_file: Some(identity),
        password_file: Some(files.write("password", b"from the file\n")),
        recipients: vec![public],
    };
    let mut frontend = Frontend { offer: Some(Ok("offered")), ..Default::default() };
    let credential = resolve(&source, &mut frontend).unwrap();
    assert_eq!(kind(&credential), "key file");
    assert_eq!((frontend.offered_calls, frontend.asked_calls), (0, 0), "the frontend was consulted needlessly");
}

#[test]
fn an_identity_comes_before_any_password() {
    let files = Files::new();
    let (identity, _) = files.identity();
    let source = CredentialSource {
        identity_file: Some(identity),
        password_file: Some(files.write("password", b"from the file\n")),
        ..Default::default()
    };
    let mut frontend = Frontend { offer: Some(Ok("offered")), ..Default::default() };
    assert_eq!(kind(&resolve(&source, &mut frontend).unwrap()), "identity");
    assert_eq!(frontend.offered_calls, 0);
}

#[test]
fn a_password_file_comes_before_an_offered_password_and_only_its_first_line_counts() {
    let files = Files::new();
    let source = CredentialSource {
        password_file: Some(files.write("password", b"from the file\nsecond line\n")),
        ..Default::default()
    };
    let mut frontend = Frontend { offer: Some(Ok("offered")), ..Default::default() };
    assert_eq!(password(&resolve(&source, &mut frontend).unwrap()), "from the file");
    assert_eq!(frontend.offered_calls, 0);
}

#[test]
fn an_offered_password_comes_before_write_only_recipients() {
    let files = Files::new();
    let (_, public) = files.identity();
    let source = CredentialSource { recipients: vec![public], ..Default::default() };
    let mut frontend = Frontend { offer: Some(Ok("offered")), answer: Some("asked"), ..Default::default() };
    assert_eq!(password(&resolve(&source, &mut frontend).unwrap()), "offered");
    assert_eq!(frontend.asked_calls, 0);
}

#[test]
fn a_broken_offered_password_fails_instead_of_going_write_only() {
    let files = Files::new();
    let (_, public) = files.identity();
    let source = CredentialSource { recipients: vec![public], ..Default::default() };
    let mut frontend = Frontend { offer: Some(Err("$LIFEBOAT_PASSWORD is set but empty")), ..Default::default() };
    let err = resolve(&source, &mut frontend).unwrap_err();
    assert!(matches!(err, CredentialError::Password(_)), "{err:?}");
    assert_eq!(err.to_string(), "$LIFEBOAT_PASSWORD is set but empty", "the frontend's message is kept as written");
}

#[test]
fn recipients_without_any_password_make_a_write_only_handle_without_asking() {
    let files = Files::new();
    let (_, public) = files.identity();
    let source = CredentialSource { recipients: vec![public], ..Default::default() };
    let mut frontend = Frontend { answer: Some("asked"), ..Default::default() };
    assert_eq!(kind(&resolve(&source, &mut frontend).unwrap()), "write-only");
    assert_eq!(frontend.asked_calls, 0, "a write-only host was asked for a password");
}

#[test]
fn recipients_are_parsed_only_when_used() {
    let bad = CredentialSource { recipients: vec!["lbpk1-not-a-key".into()], ..Default::default() };
    let mut frontend = Frontend { offer: Some(Ok("offered")), ..Default::default() };
    assert_eq!(kind(&resolve(&bad, &mut frontend).unwrap()), "password", "an unused recipient failed the open");
    let err = resolve(&bad, &mut Frontend::default()).unwrap_err();
    assert!(matches!(&err, CredentialError::BadRecipient { value, .. } if value == "lbpk1-not-a-key"), "{err:?}");
}

#[test]
fn the_frontend_is_asked_last_and_a_frontend_that_cannot_ask_gets_no_password() {
    let mut frontend = Frontend { answer: Some("asked"), ..Default::default() };
    assert_eq!(password(&resolve(&CredentialSource::default(), &mut frontend).unwrap()), "asked");
    assert_eq!((frontend.offered_calls, frontend.asked_calls), (1, 1));

    let err = resolve(&CredentialSource::default(), &mut GivenPassword::default()).unwrap_err();
    assert!(matches!(err, CredentialError::NoPassword), "{err:?}");
    let given = resolve(&CredentialSource::default(), &mut GivenPassword(Some(Zeroizing::new("held".into()))));
    assert_eq!(password(&given.unwrap()), "held");
}

#[test]
fn file_errors_name_the_file_and_never_its_content() {
    let files = Files::new();
    let empty = files.write("empty-password", b"\nsecret on line two\n");
    let err = resolve(
        &CredentialSource { password_file: Some(empty.clone()), ..Default::default() },
        &mut Frontend::default(),
    )
    .unwrap_err();
    assert!(matches!(&err, CredentialError::EmptyPasswordFile { path } if path == &empty), "{err:?}");

    let missing = files.dir.path().join("no-such-key");
    let err =
        resolve(&CredentialSource { key_file: Some(missing.clone()), ..Default::default() }, &mut Frontend::default())
            .unwrap_err();
    assert!(matches!(&err, CredentialError::Read { what: "key file", path, .. } if path == &missing), "{err:?}");
    assert!(err.to_string().contains("cannot read key file"), "{err}");

    let bad_identity = files.write("identity", b"lbsk1-this-is-the-secret-text");
    let err = resolve(
        &CredentialSource { identity_file: Some(bad_identity), ..Default::default() },
        &mut Frontend::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CredentialError::Parse { what: "identity file", .. }), "{err:?}");
    assert!(
        !chain(&err).contains("this-is-the-secret-text"),
        "an error shows the identity file's content: {}",
        chain(&err)
    );
}

#[test]
fn open_settings_carry_the_writer_key_the_state_dir_and_the_trust_flags() {
    let files = Files::new();
    let key = WriterKey::generate().unwrap();
    let settings = OpenSettings {
        state_dir: Some(files.dir.path().join("state")),
        writer_key_file: Some(files.write("writer", key.to_text().as_bytes())),
        accept_config_rollback: true,
        trust_new_signers: true,
    };
    let options = settings.open_options().unwrap();
    assert!(options.accept_config_rollback && options.trust_new_signers);
    assert_eq!(options.writer_key.map(|k| k.public().to_string()), Some(key.public().to_string()));
    assert!(options.state.is_some());

    let destination = settings.copy_destination_options().unwrap();
    assert!(destination.writer_key.is_none(), "a copy's destination got the source's writer key");
    assert!(destination.accept_config_rollback && destination.trust_new_signers && destination.state.is_some());

    let bad = OpenSettings { writer_key_file: Some(files.write("bad-writer", b"not a key")), ..Default::default() };
    let err = bad.open_options().unwrap_err();
    assert!(matches!(err, CredentialError::Parse { what: "writer key file", .. }), "{err:?}");
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
