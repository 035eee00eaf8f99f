//! Someone with write access to a local drive's folder, and nothing else: links planted
//! there never take a write (or a health probe) outside the folder.

use std::os::unix::fs::symlink;

use crate::common::{backupman, files};
use crate::server::{LOCAL_DISK, Server, setup};

#[test]
fn a_linked_source_folder_gets_nothing_and_the_backup_to_it_fails_clearly() {
    let (tmp, config) = setup(LOCAL_DISK, "");
    let disk = tmp.path().join("disk");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&disk).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    // The Demo source's folder is `demo/`.
    symlink(&elsewhere, disk.join("demo")).unwrap();
    let run = backupman(tmp.path(), &["run", "-c", &config]);
    assert_ne!(run.code, 0, "{}", run.all());
    let link = disk.join("demo").display().to_string();
    assert!(
        run.all().contains(&link) && run.all().contains("symbolic link"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains("stored"), "{}", run.all());
    assert_eq!(files(&elsewhere), Vec::<std::path::PathBuf>::new());
}

#[test]
fn a_linked_health_probe_folder_is_not_followed() {
    let (tmp, config) = setup(LOCAL_DISK, "");
    let disk = tmp.path().join("disk");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&disk).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    // Where the probe used to be written, and deleted.
    symlink(&elsewhere, disk.join(".backupman-health")).unwrap();
    std::fs::write(elsewhere.join("probe-1"), b"theirs").unwrap();
    let server = Server::start(tmp.path(), &config);
    for with_key in [false, true] {
        let (status, body) = if with_key {
            server.get("/health")
        } else {
            crate::server::curl(&server.url("/health"), &[])
        };
        assert_eq!(status, 200);
        let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            report["Details"]["Drives"]["Components"]["Disk"]["Status"],
            "UP",
            "{report}\n{}",
            server.log()
        );
    }
    assert_eq!(
        files(&elsewhere),
        vec![elsewhere.join("probe-1")],
        "nothing written or deleted through the link"
    );
    assert_eq!(std::fs::read(elsewhere.join("probe-1")).unwrap(), b"theirs");
}

#[test]
fn a_planted_name_with_quotes_and_non_ascii_downloads_under_a_safe_header() {
    let (tmp, config) = setup(LOCAL_DISK, "");
    let folder = tmp.path().join("disk/demo");
    std::fs::create_dir_all(&folder).unwrap();
    // A name the listing takes for a backup, made to inject a parameter.
    let name = "demo-20261127T031322.123Z-7f3a9c.sql\"; filename=evil; x=ü.gz";
    std::fs::write(folder.join(name), b"planted").unwrap();
    let server = Server::start(tmp.path(), &config);
    // Listed for downloads though not in /api/backups (it has no manifest): its id is the
    // drive file id of its key.
    let id = backupman_ops::record::drive_file_id("Disk", &format!("demo/{name}"));
    let out = std::process::Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "-H"])
        .arg(format!("X-Api-Key: {}", crate::server::KEY))
        .arg(server.url(&format!("/api/backups/{id}/download")))
        .output()
        .unwrap();
    let head = String::from_utf8(out.stdout).expect("headers are ASCII");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let value = head
        .lines()
        .find_map(|l| l.strip_prefix("content-disposition: "))
        .unwrap_or_else(|| panic!("{head}"));
    // Parsed as a client does: two parameters, the quoted one ends at its closing quote.
    let rest = value.strip_prefix("attachment; filename=\"").unwrap();
    let (fallback, rest) = rest.split_once('"').unwrap();
    assert!(
        !fallback.contains(['"', '\\', '%']) && fallback.is_ascii(),
        "{value}"
    );
    let encoded = rest.strip_prefix("; filename*=UTF-8''").unwrap();
    assert!(!encoded.contains([';', ' ', '"']), "one parameter: {value}");
    let decoded = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]), end='')",
        ])
        .arg(encoded)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(decoded.stdout).unwrap(), name);
}
