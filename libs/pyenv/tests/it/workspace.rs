//! Workspace paths: `..`, absolute paths and symlinks (made by sandboxed code) that leave
//! the workspace are refused where the file is opened; quotas hold.

use crate::{engine, env, run};

#[tokio::test]
async fn files_round_trip_and_escapes_are_refused() {
    let e = engine("ws").await;
    let a = env(&e, "ws").await;
    let info = e.write_file(&a, "src/pkg/mod.py", b"X = 1\n").unwrap();
    assert_eq!(info.path, "src/pkg/mod.py");
    assert_eq!(e.read_file(&a, "src/pkg/mod.py").unwrap(), "X = 1\n");
    let top: Vec<String> = e.list_files(&a, None).unwrap().into_iter().map(|f| f.path).collect();
    assert_eq!(top, vec!["src"]);
    assert_eq!(e.list_files(&a, Some("src/pkg")).unwrap()[0].path, "src/pkg/mod.py");
    // Code sees the engine's files and may change them (they belong to the sandbox uid).
    let out =
        run(&e, &a, "from src.pkg.mod import X\nprint(X)\nopen('/workspace/src/pkg/mod.py','a').write('Y = 2\\n')")
            .await;
    assert!(out.success && out.stdout.trim() == "1", "{out:?}");
    assert_eq!(e.read_file(&a, "src/pkg/mod.py").unwrap(), "X = 1\nY = 2\n");

    for bad in ["../escape.txt", "src/../../x", "/etc/passwd", "/workspace/src/pkg/mod.py", ""] {
        let err = e.read_file(&a, bad).unwrap_err();
        assert!(err.to_string().starts_with("filename"), "{bad}: {err}");
        assert!(e.write_file(&a, bad, b"x").is_err(), "{bad}");
        assert!(e.delete_file(&a, bad).is_err(), "{bad}");
    }
    assert!(e.list_files(&a, Some("..")).unwrap_err().to_string().starts_with("path"));

    // Symlinks made inside the sandbox, pointing out: every engine operation refuses them.
    let code = "import os\nos.symlink('/etc/passwd', '/workspace/abs')\nos.symlink('../../../../../../etc', '/workspace/rel')\nos.symlink('/', '/workspace/root')\nos.symlink('src/pkg/mod.py', '/workspace/inner')\nprint('made')";
    let out = run(&e, &a, code).await;
    assert!(out.success, "{out:?}");
    for escape in ["abs", "rel/passwd", "root/etc/passwd", "root/proc/self/environ"] {
        let err = e.read_file(&a, escape).unwrap_err();
        assert!(
            err.to_string().contains("outside the workspace") || err.to_string().contains("no such file"),
            "{escape}: {err}"
        );
        assert!(!err.to_string().contains("root:x:0"));
    }
    assert!(e.write_file(&a, "abs", b"pwned").is_err(), "no write through a symlink");
    assert!(e.write_file(&a, "root/tmp/pwned", b"x").is_err(), "no write below a symlinked dir");
    assert!(e.list_files(&a, Some("root")).is_err(), "no listing through a symlink leaving it");
    assert!(!std::fs::read_to_string("/etc/passwd").unwrap().contains("pwned"));
    // A symlink that stays inside works.
    assert_eq!(e.read_file(&a, "inner").unwrap(), "X = 1\nY = 2\n");
    // Deleting the symlink removes the link, never its target.
    e.delete_file(&a, "abs").unwrap();
    assert!(std::path::Path::new("/etc/passwd").exists());
    // run_script is checked the same way.
    let err = e.run_script(&a, "root/etc/passwd", &[], None, None).await.unwrap_err();
    assert!(err.to_string().starts_with("script_path"), "{err}");
    let err = e.run_script(&a, "../x.py", &[], None, None).await.unwrap_err();
    assert!(err.to_string().starts_with("script_path"), "{err}");
}

#[tokio::test]
async fn quotas_on_bytes_and_files() {
    let e = engine("quota").await;
    let a = env(&e, "q").await;
    for i in 0..150 {
        e.write_file(&a, &format!("f/{i}.txt"), b"x").unwrap();
    }
    let err = (150..300).find_map(|i| e.write_file(&a, &format!("f/{i}.txt"), b"x").err()).expect("the file quota");
    assert!(err.to_string().contains("quota of 200"), "{err}");
    let err = e.write_file(&a, "big", &vec![0u8; 33 << 20]).unwrap_err();
    assert!(err.to_string().contains("quota"), "{err}");
}

#[tokio::test]
async fn run_script_and_git_clone_arguments() {
    let e = engine("script").await;
    let a = env(&e, "s").await;
    e.write_file(&a, "tools/echo.py", b"import sys\nprint(' '.join(sys.argv[1:]))\n").unwrap();
    let out = e.run_script(&a, "tools/echo.py", &["a".into(), "b c".into()], None, None).await.unwrap();
    assert_eq!(out.stdout, "a b c\n", "{out:?}");
    // Cloning is off by default, and http, credentials, paths are refused.
    let err = e.git_clone(&a, "https://github.com/octocat/Hello-World.git", None).await.unwrap_err();
    assert!(err.to_string().contains("not enabled"), "{err}");
    let mut cfg = crate::config("gitcfg");
    cfg.git_hosts = vec!["github.com".into()];
    let g = crate::engine_with(cfg).await;
    let b = env(&g, "g").await;
    for (url, dir) in [
        ("http://github.com/a/b", None),
        ("https://evil.example/a/b", None),
        ("https://github.com/a/b", Some("../out")),
    ] {
        let err = g.git_clone(&b, url, dir).await.unwrap_err();
        assert!(err.to_string().starts_with("repo_url") || err.to_string().starts_with("dir_name"), "{err}");
    }
    // A clone of an allowed https URL runs git in the sandbox with the network. This machine
    // resolves no git host (github.com does not resolve here), so the clone must fail with
    // git's own reason, reported, and leave nothing behind.
    match g.git_clone(&b, "https://github.com/octocat/Hello-World.git", Some("hello")).await {
        Ok(info) => {
            assert_eq!(info.clone_path, "/workspace/hello");
            assert!(g.read_file(&b, "hello/README").unwrap().contains("Hello"));
        }
        Err(err) => {
            assert!(err.to_string().starts_with("git clone failed"), "{err}");
            println!("git clone (no git host reachable here): {err}");
            assert!(g.list_files(&b, Some("hello")).is_err(), "nothing left behind");
        }
    }
}

#[tokio::test]
async fn disk_usage_follows_the_engines_writes_and_deletes_at_once() {
    let e = engine("ws-disk").await;
    let a = env(&e, "disk").await;
    let fresh = e.disk_usage(&a).unwrap();
    assert!(fresh > 0, "the venv counts");
    e.write_file(&a, "big.bin", &vec![b'x'; 200_000]).unwrap();
    let written = e.disk_usage(&a).unwrap();
    assert!(written >= fresh + 200_000, "{fresh} then {written}");
    assert!(e.file_allocated_bytes(&a, "big.bin").unwrap() >= 200_000);
    assert_eq!(e.file_allocated_bytes(&a, "none.bin").unwrap(), 0);
    e.delete_file(&a, "big.bin").unwrap();
    assert_eq!(e.disk_usage(&a).unwrap(), fresh);
    // What code writes in a run is seen once the cache is stale.
    let out = run(&e, &a, "open('/workspace/out.bin', 'wb').write(b'y' * 300000)").await;
    assert!(out.success, "{out:?}");
    tokio::time::sleep(canopy_pyenv::WORKSPACE_FRESH).await;
    assert!(e.disk_usage(&a).unwrap() >= fresh + 300_000);
    e.destroy(&a).await.unwrap();
    assert!(e.disk_usage(&a).is_err(), "a destroyed environment uses nothing here");
}
