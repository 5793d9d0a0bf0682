//! `lifeboatd --check` and the listen rule: a valid config passes and says what would run;
//! an invalid one fails naming the problem; plain HTTP off loopback is refused unless
//! allowed explicitly.

use crate::common::{Site, run_to_end};

const PLAN: &str = "[plans.tick]\nrepository = \"@DIR@/repo\"\npassword-file = \"@PASSWORD_FILE@\"\n\
                    source = { kind = \"stdin\", command = [\"echo\", \"tick\"] }\n";

/// A site with [`PLAN`] as its config, and the config's and state's paths as text.
fn site() -> (Site, String, String) {
    let site = Site::new();
    site.write_config(PLAN);
    let (config, state) = (site.config().display().to_string(), site.state().display().to_string());
    (site, config, state)
}

#[test]
fn check_passes_a_valid_config_and_names_the_problem_of_an_invalid_one() {
    let (site, config, state) = site();
    let ok = run_to_end(&site, &["--config", &config, "--state", &state, "--check"]);
    assert!(ok.status.success(), "{}{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout.contains("valid") && ok.stdout.contains("tick") && ok.stdout.contains("127.0.0.1:8081"),
        "{}",
        ok.stdout
    );
    assert!(!site.state().exists(), "--check created the state");

    site.write_config(&format!("{PLAN}[service]\nconcurency = 3\n"));
    let bad = run_to_end(&site, &["--config", &config, "--state", &state, "--check"]);
    assert_eq!(bad.status.code(), Some(1), "{}{}", bad.stdout, bad.stderr);
    assert!(bad.stderr.contains("concurency"), "{}", bad.stderr);

    let missing = run_to_end(&site, &["--config", "/nonexistent/lifeboat.toml", "--check"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(missing.stderr.contains("/nonexistent/lifeboat.toml"), "{}", missing.stderr);

    let usage = run_to_end(&site, &["--check"]);
    assert_eq!(usage.status.code(), Some(2), "no --config is a usage error: {}", usage.stderr);
}

#[test]
fn plain_http_off_loopback_is_refused_unless_allowed() {
    let (site, config, state) = site();
    let refused = run_to_end(&site, &["--config", &config, "--state", &state, "--listen", "0.0.0.0:0"]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("0.0.0.0:0") && refused.stderr.contains("--allow-plain-http"),
        "{}",
        refused.stderr
    );
    let allowed = run_to_end(
        &site,
        &["--config", &config, "--state", &state, "--listen", "0.0.0.0:0", "--allow-plain-http", "--check"],
    );
    assert!(allowed.status.success(), "{}", allowed.stderr);
    let bad = run_to_end(&site, &["--config", &config, "--state", &state, "--listen", "example.net:80", "--check"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(bad.stderr.contains("example.net:80"), "{}", bad.stderr);
}
