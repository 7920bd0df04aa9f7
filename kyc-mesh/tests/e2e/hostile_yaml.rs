//! Hostile YAML saved into the networking/ of a running mesh: each case is reported as an
//! error naming the file, and the last good configuration keeps serving.

use std::path::Path;

use crate::helpers::backend::backends;
use crate::helpers::http::{client, get};
use crate::helpers::mesh::mesh_with;
use crate::helpers::networking_copy;

/// Puts one hostile file at a path.
type Save = dyn Fn(&Path);

fn billion_laughs() -> String {
    let mut yaml = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        yaml.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_yaml_is_refused_and_the_last_good_config_stays_live() {
    let envoy = require_envoy!();
    let b = backends().await;
    let dir = networking_copy();
    let mesh = mesh_with(&envoy, &b, dir.path(), None).await;
    let c = client();
    let url = mesh.url("/credit-check/basic");
    assert_eq!(get(&c, &url, &[]).await.status, 200);
    let routing = dir.path().join("kyc-credit-check-istio-routing.yaml");
    let good = std::fs::read_to_string(&routing).expect("read");
    let half = &good[..good.find("weig").expect("a weight") + "weig".len()];
    let cases: Vec<(&str, Box<Save>)> = vec![
        (
            "bomb.yaml",
            Box::new(|p| std::fs::write(p, billion_laughs()).expect("write")),
        ),
        (
            "huge.yaml",
            Box::new(|p| std::fs::write(p, "#".repeat(2 << 20)).expect("write")),
        ),
        (
            "garbage.yaml",
            Box::new(|p| std::fs::write(p, [0xffu8, 0xfe, 0, 1, 0x80]).expect("write")),
        ),
        (
            "dir.yaml",
            Box::new(|p| std::fs::create_dir(p).expect("mkdir")),
        ),
        (
            "link.yaml",
            Box::new(|p| std::os::unix::fs::symlink(p.with_file_name("gone"), p).expect("symlink")),
        ),
    ];
    for (name, write) in cases {
        let path = dir.path().join(name);
        write(&path);
        mesh.wait_output(&format!("{}: ", path.display()));
        assert_eq!(
            get(&c, &url, &[]).await.status,
            200,
            "{name}: last good config serves"
        );
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir(&path).expect("rmdir"),
            _ => std::fs::remove_file(&path).expect("rm"),
        }
    }
    // An edit saved half-way, then completed.
    std::fs::write(&routing, half).expect("write");
    mesh.wait_output(&routing.display().to_string());
    assert_eq!(
        get(&c, &url, &[]).await.status,
        200,
        "half-saved: last good config serves"
    );
    std::fs::write(&routing, &good).expect("write");
    assert!(!mesh.output().contains("panicked"), "{}", mesh.output());
}
