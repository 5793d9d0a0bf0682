//! Configuration bundles: secrets redacted in YAML, TOML, INI and JSON, recorded in the
//! manifest; other files copied byte for byte.

use lifeboat_export::files::export_files;

#[test]
fn a_configuration_bundle_without_its_secrets() {
    let src = tempfile::tempdir().unwrap();
    let conf = src.path().join("conf");
    std::fs::create_dir_all(conf.join("sub")).unwrap();
    std::fs::write(conf.join("app.yaml"), "server:\n  port: 80\n  db_password: s3cret\n").unwrap();
    std::fs::write(conf.join("sub/c.toml"), "[auth]\ntoken = \"t0k\"\nuser = \"me\"\n").unwrap();
    std::fs::write(conf.join("my.ini"), "[client]\npassword=pw\nhost=db\n").unwrap();
    std::fs::write(conf.join("x.json"), "{\"apiSecret\": \"abc\", \"n\": 1}").unwrap();
    std::fs::write(conf.join("logo.bin"), [0u8, 159, 146, 150, b'p', b'a']).unwrap();
    let out = tempfile::tempdir().unwrap();
    let patterns = vec!["password".to_string(), "secret".into(), "token".into()];
    let e = export_files(std::slice::from_ref(&conf), &patterns, out.path()).unwrap();
    let read = |p: &str| std::fs::read_to_string(out.path().join(p)).unwrap();
    assert_eq!(read("files/conf/app.yaml"), "server:\n  port: 80\n  db_password: \"***REDACTED***\"\n");
    assert_eq!(read("files/conf/sub/c.toml"), "[auth]\ntoken = \"***REDACTED***\"\nuser = \"me\"\n");
    assert_eq!(read("files/conf/my.ini"), "[client]\npassword=***REDACTED***\nhost=db\n");
    assert_eq!(read("files/conf/x.json"), "{\"apiSecret\": \"***REDACTED***\", \"n\": 1}");
    assert_eq!(std::fs::read(out.path().join("files/conf/logo.bin")).unwrap(), [0u8, 159, 146, 150, b'p', b'a']);
    let mut got: Vec<(String, String, u64)> =
        e.redactions.iter().map(|r| (r.file.clone(), r.key.clone(), r.line)).collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("files/conf/app.yaml".to_string(), "db_password".to_string(), 3),
            ("files/conf/my.ini".into(), "password".into(), 2),
            ("files/conf/sub/c.toml".into(), "token".into(), 2),
            ("files/conf/x.json".into(), "apiSecret".into(), 1),
        ]
    );
    assert_eq!(e.files.len(), 5);
    for f in &e.files {
        assert_eq!(f.blake3, blake3::hash(&std::fs::read(out.path().join(&f.path)).unwrap()).to_hex().to_string());
    }
}
