//! The init binary's command line, run as a process: `--dry-run` output, options from the
//! environment, refused options. Needs no privilege (a dry run touches nothing).

use std::process::{Command, Output};

use mulambda_intercept::{Redirects, Rules, rules};

fn intercept(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mulambda-intercept"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run mulambda-intercept")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn dry_run_prints_exactly_the_script_it_would_apply() {
    let out = intercept(&["--dry-run"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = Rules::new(2501, Redirects::default())
        .unwrap()
        .install_script();
    assert_eq!(stdout(&out), expected);
    assert!(expected.contains("tcp dport 8501 redirect to :18501"));
    assert!(expected.contains("tcp dport 8500 redirect to :18500"));
}

#[test]
fn options_come_from_mulambda_variables_and_flags_win() {
    let env = [
        ("MULAMBDA_PROXY_UID", "1337"),
        ("MULAMBDA_INTERCEPT_REDIRECT", "8501=15001"),
        ("MULAMBDA_INTERCEPT_DRY_RUN", "true"),
    ];
    let out = intercept(&[], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = stdout(&out);
    assert!(script.contains("meta skuid 1337 return"), "{script}");
    assert!(
        script.contains("tcp dport 8501 redirect to :15001"),
        "{script}"
    );
    assert!(!script.contains("8500"), "{script}");

    let out = intercept(&["--proxy-uid", "7"], &env);
    assert!(stdout(&out).contains("meta skuid 7 return"));
}

#[test]
fn a_dry_run_removal_prints_the_removal_script() {
    let out = intercept(&["--remove", "--dry-run"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), rules::remove_script());
}

#[test]
fn refused_options_exit_2_naming_flag_variable_and_value() {
    let out = intercept(&["--dry-run"], &[("MULAMBDA_PROXY_UID", "0")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--proxy-uid / MULAMBDA_PROXY_UID: refused `0`"),
        "{}",
        stderr(&out)
    );

    let out = intercept(
        &["--dry-run"],
        &[("MULAMBDA_INTERCEPT_REDIRECT", "8501:18501")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("`8501:18501` is not TF_PORT=PROXY_PORT"),
        "{err}"
    );
    assert!(err.contains("MULAMBDA_INTERCEPT_REDIRECT"), "{err}");

    let out = intercept(&["--dry-run", "--redirect", "8501=18501,8501=18502"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("TF Serving port 8501 is redirected twice"),
        "{}",
        stderr(&out)
    );
}
