//! Downloads from an S3 drive through the server, and presigned URLs a plain client fetches.

use backupman_core::read_all;
use backupman_testkit::s3::{S3Server, Style};

use crate::common::s3_drive_yaml;
use crate::server::{LOCAL_DISK, Server, curl, finished, setup};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn downloads_equal_the_stored_objects_on_a_local_and_an_s3_drive() {
    let rt = rt();
    let s3 = S3Server::s3s_fs(Style::Path);
    rt.block_on(s3.create_bucket("serve"));
    // S3 first: generate-download-url presigns on it.
    let drives = format!(
        "{}{LOCAL_DISK}",
        s3_drive_yaml(&s3, "Bucket", "serve", "db")
    );
    let (tmp, config) = setup(&drives, "");
    let server = Server::start(tmp.path(), &config);
    assert_eq!(server.post_backup().0, 200);
    let results = server.wait_for_backups(|r| finished(r).len() == 1);
    let backup = &results[0];
    let key = backup["Key"].as_str().unwrap();
    let files = backup["DriveFiles"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{backup}");

    let from_s3 = rt
        .block_on(read_all(&s3.drive("serve", "db"), key))
        .unwrap();
    let from_disk = std::fs::read(tmp.path().join("disk").join(key)).unwrap();
    assert_eq!(from_s3, from_disk);
    for file in files {
        let (status, body) = server.get(&format!(
            "/api/backups/{}/download",
            file["Id"].as_str().unwrap()
        ));
        assert_eq!(status, 200, "{file}");
        assert_eq!(body, from_s3, "{} serves the stored object", file["Label"]);
    }
    let s3_file = files.iter().find(|f| f["Provider"] == "s3").unwrap();
    assert_eq!(
        s3_file["Path"].as_str().unwrap(),
        format!("s3://serve/db/{key}")
    );

    // A presigned GET on the S3 drive, fetched with no key and no credentials.
    let link = server.json(&format!(
        "/api/backups/{}/generate-download-url",
        backup["Id"].as_str().unwrap()
    ));
    let url = link["Url"].as_str().unwrap();
    assert!(url.starts_with(&s3.endpoint), "{link}");
    assert!(url.contains("X-Amz-Signature="), "{link}");
    let (status, body) = curl(url, &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, from_s3);
    // Its signature is checked by the store: one hex digit changed, and it is refused.
    let (head, signature) = url.split_once("X-Amz-Signature=").unwrap();
    let (first, rest) = signature.split_at(1);
    let flipped = if first == "0" { "1" } else { "0" };
    let (status, _) = curl(&format!("{head}X-Amz-Signature={flipped}{rest}"), &[]);
    assert_eq!(status, 403);
}
