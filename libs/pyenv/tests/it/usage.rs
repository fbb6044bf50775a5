//! The seed's usage examples as engine calls, packages, freeze and restore.

use crate::{engine, env, run};
use canopy_pyenv::{CreateOptions, EnvError, PackageError, SpawnRequest, FROZEN_FORMAT};
use std::time::{Duration, Instant};

#[tokio::test]
async fn basic_workflow_create_install_run() {
    let e = engine("basic").await;
    // 1. create_environment(name="myenv", python_version="3.11")
    let info = e.create("myenv", Some("3.11"), CreateOptions::default()).await.unwrap();
    assert!(info.python_version.starts_with("3.11."), "{info:?}");
    // 2. install_packages (small pure-Python ones: the index is PyPI)
    let pkgs = e.install_packages(&info.id, &["six".into(), "attrs".into()], false).await.unwrap();
    assert!(pkgs.iter().any(|p| p.name == "six") && pkgs.iter().any(|p| p.name == "attrs"), "{pkgs:?}");
    // 3. run_code(code="import six; print(six.__version__)")
    let out = run(&e, &info.id, "import six; print(six.__version__)").await;
    assert!(out.success, "{out:?}");
    let six = pkgs.iter().find(|p| p.name == "six").unwrap();
    assert_eq!(out.stdout.trim(), six.version);
    // input_json reaches the code as a global.
    let input = serde_json::json!({"a": [1, 2, 3]});
    let out = e.run_code(&info.id, "print(sum(input_json['a']))", Some(&input), None, None).await.unwrap();
    assert_eq!(out.stdout.trim(), "6", "{out:?}");
    assert_eq!(e.list().len(), 1);
    e.destroy(&info.id).await.unwrap();
    assert!(!info.env_path.exists() && !info.workspace_dir.exists(), "destroy removes the dirs");
    assert!(e.get(&info.id).is_err());
}

#[tokio::test]
async fn numpy_and_pandas_then_a_second_env_from_the_cache() {
    let e = engine("numpy").await;
    let a = env(&e, "np-a").await;
    let pkgs = vec!["numpy".to_owned(), "pandas".to_owned()];
    let t = Instant::now();
    e.install_packages(&a, &pkgs, false).await.unwrap();
    let first = t.elapsed();
    let out = run(&e, &a, "import numpy, pandas; print(numpy.__version__, pandas.__version__)").await;
    assert!(out.success, "{out:?}");
    // The second environment with the same packages comes from the shared cache.
    let t = Instant::now();
    let b = env(&e, "np-b").await;
    e.install_packages(&b, &pkgs, false).await.unwrap();
    let second = t.elapsed();
    let out_b = run(&e, &b, "import numpy, pandas; print(numpy.__version__, pandas.__version__)").await;
    assert_eq!(out.stdout, out_b.stdout);
    println!("FIGURE numpy+pandas: first install {first:?}; second env (create + install from the cache) {second:?}");
    assert!(second < Duration::from_secs(10), "{second:?}");
}

#[tokio::test]
async fn small_package_set_from_the_cache_is_fast() {
    let e = engine("cache").await;
    let pkgs: Vec<String> = ["six", "attrs", "idna"].map(String::from).to_vec();
    let a = env(&e, "warm").await;
    e.install_packages(&a, &pkgs, false).await.unwrap();
    let t = Instant::now();
    let b = env(&e, "second").await;
    e.install_packages(&b, &pkgs, false).await.unwrap();
    let second = t.elapsed();
    println!("FIGURE six+attrs+idna: second env (create + install from the cache) {second:?}");
    assert_eq!(e.list_packages(&a).await.unwrap(), e.list_packages(&b).await.unwrap());
}

#[tokio::test]
async fn freeze_then_restore_gives_an_equal_environment() {
    let e = engine("freeze").await;
    let a = env(&e, "orig").await;
    e.install_packages(&a, &["attrs==24.2.0".into(), "six".into()], false).await.unwrap();
    let frozen = e.freeze(&a).await.unwrap();
    assert_eq!(frozen.format, FROZEN_FORMAT);
    assert!(frozen.packages.iter().any(|p| p.name == "attrs" && p.version == "24.2.0"), "{frozen:?}");
    let json = serde_json::to_string(&frozen).unwrap();
    let b = e.restore("copy", &json, CreateOptions::default()).await.unwrap();
    assert_eq!(e.freeze(&b.id).await.unwrap(), frozen, "restore is equal to the frozen environment");
    // A restore elsewhere may keep the id.
    let id = canopy_pyenv::EnvId::parse("env_keep-me").unwrap();
    let c = e.restore("same-id", &json, CreateOptions { id: Some(id.clone()), ..Default::default() }).await.unwrap();
    assert_eq!(c.id, id);
    // Bad frozen JSON names the argument.
    let err = e.restore("x", "{\"format\": \"other\"}", CreateOptions::default()).await.unwrap_err();
    assert!(err.to_string().starts_with("frozen_json"), "{err}");
    let evil = json.replace("\"six\"", "\"--index-url=https://evil\"");
    assert!(matches!(e.restore("x", &evil, CreateOptions::default()).await, Err(EnvError::InvalidFrozen(_))));
}

#[tokio::test]
async fn bad_package_arguments_are_refused_naming_the_argument() {
    let e = engine("badpkg").await;
    let a = env(&e, "p").await;
    for bad in ["--index-url=https://evil.example/simple", "-e", "pkg @ https://evil/x.whl", "../x", "six; rm -rf /"] {
        let err = e.install_packages(&a, &[bad.to_owned()], false).await.unwrap_err();
        assert!(matches!(err, PackageError::InvalidPackage { .. }), "{bad}: {err}");
        assert!(err.to_string().starts_with("packages:"), "{err}");
    }
    let err = e.install_packages(&a, &["six".into()], true).await.unwrap_err();
    assert!(err.to_string().contains("use_conda") && err.to_string().contains("no conda backend"), "{err}");
    let err = e.create("x", Some("2.7"), CreateOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains("python_version \"2.7\"") && err.to_string().contains("available: 3.11"), "{err}");
    let err = e.create("x", None, CreateOptions { allow_egress: true, ..Default::default() }).await.unwrap_err();
    assert!(matches!(err, EnvError::EgressNotAllowed), "{err}");
    // A requirements file whose lines smuggle options is refused line by line.
    e.write_file(&a, "req.txt", b"six\n--extra-index-url https://evil.example\n").unwrap();
    let err = e.install_requirements(&a, "req.txt", false).await.unwrap_err();
    assert!(err.to_string().contains("requirements_path \"req.txt\" line 2"), "{err}");
    e.write_file(&a, "ok.txt", b"six  # comment\n").unwrap();
    let pkgs = e.install_requirements(&a, "ok.txt", true).await.unwrap();
    assert!(pkgs.iter().any(|p| p.name == "six"));
    let err = e.install_requirements(&a, "../../etc/passwd", false).await.unwrap_err();
    assert!(err.to_string().starts_with("requirements_path"), "{err}");
}

#[tokio::test]
async fn long_running_process_example() {
    let e = engine("procex").await;
    let a = env(&e, "srv").await;
    // 1. workspace_write_file(filename="server.py")
    e.write_file(
        &a,
        "server.py",
        b"import time\nfor i in range(5000):\n    print('line', i)\nprint('ready')\ntime.sleep(60)\n",
    )
    .unwrap();
    // 2. spawn_process(script_path="server.py", capture_output=true)
    let p = e
        .spawn_process(&a, SpawnRequest { script_path: "server.py".into(), capture_output: true, ..Default::default() })
        .await
        .unwrap();
    // 3. process_output(tail_lines=50)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = e.process_output(&p.id, Some(50)).unwrap();
        if out.lines.last().is_some_and(|l| l == "ready") {
            assert_eq!(out.lines.len(), 50);
            assert_eq!(out.lines[0], "line 4951");
            assert!(out.dropped_lines >= 4000, "only the last 1000 are kept: {}", out.dropped_lines);
            break;
        }
        assert!(Instant::now() < deadline, "no ready line: {out:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(e.process_output(&p.id, None).unwrap().lines.len(), 1000);
    // 4. kill_process
    let info = e.kill_process(&p.id).await.unwrap();
    assert!(!info.running && info.reason == Some(canopy_pyenv::EndReason::Killed), "{info:?}");
    assert!(!std::path::Path::new(&format!("/proc/{}", p.pid)).exists(), "no process left");
}
