//! A reproducible OCI image, assembled in memory and written as an OCI image
//! layout (`oci-layout`, `index.json`, `blobs/sha256/…`).
//!
//! Same inputs, same bytes: tar entries are sorted, owned by root with fixed
//! modes and one fixed mtime; gzip carries no name and no timestamp; the JSON
//! documents are structs, so their field order is fixed.

use std::collections::{BTreeMap, btree_map};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// One path in a layer: relative to the image root, no leading `/`.
#[derive(Clone, Debug)]
pub struct Entry {
    pub path: String,
    pub mode: u32,
    /// `None` for a directory.
    pub contents: Option<Vec<u8>>,
}

impl Entry {
    pub fn file(path: &str, mode: u32, contents: Vec<u8>) -> Entry {
        Entry {
            path: path.trim_start_matches('/').to_owned(),
            mode,
            contents: Some(contents),
        }
    }

    pub fn dir(path: &str, mode: u32) -> Entry {
        Entry {
            path: path.trim_matches('/').to_owned(),
            mode,
            contents: None,
        }
    }
}

/// The files of one layer and what put them there (the config's history).
#[derive(Clone, Debug)]
pub struct Layer {
    pub created_by: String,
    pub entries: Vec<Entry>,
}

/// Everything an image is made of; `assemble` is a pure function of it.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    pub layers: Vec<Layer>,
    pub config: ContainerConfig,
    /// Seconds since the epoch: every mtime and the `created` time.
    pub epoch: i64,
    /// `org.opencontainers.image.ref.name` in index.json (e.g. the commit).
    pub ref_name: Option<String>,
}

/// The runtime part of the image config, in Docker's field spelling (which
/// the OCI spec adopted); `Healthcheck` is Docker's extension.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
}

/// `{}` in JSON (the value type of `ExposedPorts`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Empty {}

/// Docker's health check; durations in nanoseconds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: u64,
    pub timeout: u64,
    pub start_period: u64,
    pub retries: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ImageConfig {
    pub created: String,
    pub architecture: String,
    pub os: String,
    pub config: ContainerConfig,
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Vec<History>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct History {
    pub created: String,
    pub created_by: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

/// Bytes and their `sha256:` digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl Blob {
    pub fn new(bytes: Vec<u8>) -> Blob {
        Blob {
            digest: sha256_digest(&bytes),
            bytes,
        }
    }
}

/// A layer: its gzip blob and the digest of the uncompressed tar (diff_id).
#[derive(Clone, Debug)]
pub struct LayerBlob {
    pub blob: Blob,
    pub diff_id: String,
}

#[derive(Clone, Debug)]
pub struct Assembled {
    pub layers: Vec<LayerBlob>,
    pub config: Blob,
    pub manifest: Blob,
    pub index: Vec<u8>,
}

impl Assembled {
    /// What a registry stores and a runtime downloads: layers + config.
    pub fn compressed_size(&self) -> u64 {
        let layers: usize = self.layers.iter().map(|l| l.blob.bytes.len()).sum();
        (layers + self.config.bytes.len()) as u64
    }
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hash.iter() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// RFC 3339 UTC time of `epoch` seconds.
pub fn rfc3339(epoch: i64) -> Result<String> {
    let time = chrono::DateTime::from_timestamp(epoch, 0)
        .with_context(|| format!("{epoch} is not a valid timestamp"))?;
    Ok(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The uncompressed tar of `layer`: every parent directory added, entries
/// sorted by path, root-owned, mtime `epoch`.
pub fn layer_tar(layer: &Layer, epoch: i64) -> Result<Vec<u8>> {
    let default_dir = Entry::dir("", 0o755);
    let mut tree: BTreeMap<String, &Entry> = BTreeMap::new();
    for entry in &layer.entries {
        if entry.path.is_empty() || entry.path.split('/').any(|c| c.is_empty() || c == "..") {
            bail!("invalid path in layer: '{}'", entry.path);
        }
        match tree.entry(entry.path.clone()) {
            btree_map::Entry::Vacant(v) => {
                v.insert(entry);
            }
            btree_map::Entry::Occupied(_) => bail!("'{}' appears twice in a layer", entry.path),
        }
    }
    // Parents that were not listed explicitly: 0755 directories.
    let implicit: Vec<String> = tree
        .keys()
        .flat_map(|path| {
            let parts: Vec<&str> = path.split('/').collect();
            (1..parts.len())
                .map(|n| parts[..n].join("/"))
                .collect::<Vec<_>>()
        })
        .collect();
    for dir in implicit {
        tree.entry(dir).or_insert(&default_dir);
    }
    let mtime = u64::try_from(epoch).context("the image time must not be before 1970")?;

    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in &tree {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_mode(entry.mode);
        match &entry.contents {
            Some(data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                builder
                    .append_data(&mut header, path, data.as_slice())
                    .with_context(|| format!("cannot add {path} to the layer"))?;
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, format!("{path}/"), std::io::empty())
                    .with_context(|| format!("cannot add {path}/ to the layer"))?;
            }
        }
    }
    builder.into_inner().context("cannot finish the layer tar")
}

/// gzip with no file name, mtime 0 and a fixed OS byte.
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).context("gzip failed")?;
    encoder.finish().context("gzip failed")
}

/// Builds every blob of the image in memory.
pub fn assemble(spec: &ImageSpec) -> Result<Assembled> {
    let created = rfc3339(spec.epoch)?;
    let mut layers = Vec::new();
    for layer in &spec.layers {
        let tar = layer_tar(layer, spec.epoch)?;
        layers.push(LayerBlob {
            diff_id: sha256_digest(&tar),
            blob: Blob::new(gzip(&tar)?),
        });
    }
    let config = ImageConfig {
        created: created.clone(),
        architecture: "amd64".into(),
        os: "linux".into(),
        config: spec.config.clone(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
        },
        history: spec
            .layers
            .iter()
            .map(|l| History {
                created: created.clone(),
                created_by: l.created_by.clone(),
            })
            .collect(),
    };
    let config = Blob::new(serde_json::to_vec(&config)?);
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        config: descriptor(CONFIG_MEDIA_TYPE, &config),
        layers: layers
            .iter()
            .map(|l| descriptor(LAYER_MEDIA_TYPE, &l.blob))
            .collect(),
    };
    let manifest = Blob::new(serde_json::to_vec(&manifest)?);
    let mut entry = descriptor(MANIFEST_MEDIA_TYPE, &manifest);
    entry.platform = Some(Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
    });
    if let Some(name) = &spec.ref_name {
        entry
            .annotations
            .insert("org.opencontainers.image.ref.name".into(), name.clone());
    }
    let index = serde_json::to_vec(&Index {
        schema_version: 2,
        media_type: INDEX_MEDIA_TYPE.into(),
        manifests: vec![entry],
    })?;
    Ok(Assembled {
        layers,
        config,
        manifest,
        index,
    })
}

fn descriptor(media_type: &str, blob: &Blob) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: blob.digest.clone(),
        size: blob.bytes.len() as u64,
        platform: None,
        annotations: BTreeMap::new(),
    }
}

/// Writes the OCI image layout to `dir`, replacing what was there, and the
/// manifest digest to `dir/digest`.
pub fn write_layout(image: &Assembled, dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)
        .with_context(|| format!("cannot create {}", blobs.display()))?;
    let write = |path: PathBuf, bytes: &[u8]| {
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    for blob in image
        .layers
        .iter()
        .map(|l| &l.blob)
        .chain([&image.config, &image.manifest])
    {
        write(blob_path(dir, &blob.digest)?, &blob.bytes)?;
    }
    write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    write(dir.join("index.json"), &image.index)?;
    write(
        dir.join("digest"),
        format!("{}\n", image.manifest.digest).as_bytes(),
    )
}

pub fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .with_context(|| format!("'{digest}' is not a sha256 digest"))?;
    Ok(dir.join("blobs/sha256").join(hex))
}

/// An image layout read back from disk, every blob checked against its digest.
pub struct Layout {
    pub manifest: Blob,
    pub config: Blob,
    pub image_config: ImageConfig,
    /// The layer blobs, in order (paths; layers can be large).
    pub layers: Vec<(Descriptor, PathBuf)>,
    /// `org.opencontainers.image.ref.name` of the manifest in index.json.
    pub ref_name: Option<String>,
}

pub fn read_layout(dir: &Path) -> Result<Layout> {
    let index_path = dir.join("index.json");
    let index: Index = serde_json::from_slice(&std::fs::read(&index_path).with_context(|| {
        format!(
            "cannot read {}: build the image first (`cargo xtask image`)",
            index_path.display()
        )
    })?)
    .with_context(|| format!("{} is not an OCI index", index_path.display()))?;
    let [entry] = index.manifests.as_slice() else {
        bail!("{} must list exactly one manifest", index_path.display());
    };
    let manifest = read_blob(dir, &entry.digest)?;
    let parsed: Manifest = serde_json::from_slice(&manifest.bytes).context("invalid manifest")?;
    let config = read_blob(dir, &parsed.config.digest)?;
    let image_config: ImageConfig =
        serde_json::from_slice(&config.bytes).context("invalid image config")?;
    let mut layers = Vec::new();
    for layer in &parsed.layers {
        let path = blob_path(dir, &layer.digest)?;
        let actual = sha256_digest(
            &std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        if actual != layer.digest {
            bail!(
                "{} has digest {actual}, not {}",
                path.display(),
                layer.digest
            );
        }
        layers.push((layer.clone(), path));
    }
    Ok(Layout {
        ref_name: entry
            .annotations
            .get("org.opencontainers.image.ref.name")
            .cloned(),
        manifest,
        config,
        image_config,
        layers,
    })
}

fn read_blob(dir: &Path, digest: &str) -> Result<Blob> {
    let path = blob_path(dir, digest)?;
    let blob =
        Blob::new(std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?);
    if blob.digest != digest {
        bail!(
            "{} has digest {}, not {digest}",
            path.display(),
            blob.digest
        );
    }
    Ok(blob)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn spec(app: &[u8]) -> ImageSpec {
        ImageSpec {
            layers: vec![
                Layer {
                    created_by: "runtime".into(),
                    entries: vec![
                        Entry::file("/etc/passwd", 0o644, b"root:x:0:0::/:/x\n".to_vec()),
                        Entry::file("lib/x86_64-linux-gnu/libc.so.6", 0o755, vec![7; 5000]),
                        Entry::dir("tmp", 0o1777),
                    ],
                },
                Layer {
                    created_by: "app".into(),
                    entries: vec![Entry::file("app/startupwebapp", 0o755, app.to_vec())],
                },
            ],
            config: ContainerConfig {
                user: Some("65532:65532".into()),
                cmd: vec!["serve".into()],
                ..ContainerConfig::default()
            },
            epoch: 1_700_000_000,
            ref_name: Some("abc".into()),
        }
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    }

    #[test]
    fn same_inputs_give_identical_blobs_and_digest() {
        let a = assemble(&spec(b"binary")).expect("assemble");
        let b = assemble(&spec(b"binary")).expect("assemble");
        assert_eq!(a.manifest, b.manifest);
        assert_eq!(a.config, b.config);
        assert_eq!(a.index, b.index);
        for (x, y) in a.layers.iter().zip(&b.layers) {
            assert_eq!(x.blob, y.blob);
        }
        // Written twice to disk: the same files byte for byte.
        let (d1, d2) = (
            tempfile::tempdir().expect("tmp"),
            tempfile::tempdir().expect("tmp"),
        );
        write_layout(&a, d1.path()).expect("write");
        write_layout(&b, d2.path()).expect("write");
        for name in ["index.json", "oci-layout", "digest"] {
            assert_eq!(
                std::fs::read(d1.path().join(name)).expect("read"),
                std::fs::read(d2.path().join(name)).expect("read"),
                "{name}"
            );
        }
    }

    #[test]
    fn a_changed_file_changes_the_digest_but_not_the_other_layer() {
        let a = assemble(&spec(b"binary")).expect("assemble");
        let b = assemble(&spec(b"binarY")).expect("assemble");
        assert_ne!(a.manifest.digest, b.manifest.digest);
        assert_eq!(a.layers[0].blob, b.layers[0].blob);
        assert_ne!(a.layers[1].blob.digest, b.layers[1].blob.digest);
        // And so does the time.
        let mut later = spec(b"binary");
        later.epoch += 1;
        assert_ne!(
            assemble(&later).expect("assemble").manifest.digest,
            a.manifest.digest
        );
    }

    #[test]
    fn layer_tar_lists_sorted_root_owned_entries_with_the_fixed_mtime() {
        let image = assemble(&spec(b"binary")).expect("assemble");
        let tar = gunzip(&image.layers[0].blob.bytes);
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().expect("entries") {
            let entry = entry.expect("entry");
            let h = entry.header();
            assert_eq!(h.uid().expect("uid"), 0);
            assert_eq!(h.gid().expect("gid"), 0);
            assert_eq!(h.mtime().expect("mtime"), 1_700_000_000);
            let path = entry.path().expect("path").to_string_lossy().into_owned();
            seen.push((path, h.mode().expect("mode")));
        }
        assert_eq!(
            seen,
            vec![
                ("etc/".to_owned(), 0o755),
                ("etc/passwd".to_owned(), 0o644),
                ("lib/".to_owned(), 0o755),
                ("lib/x86_64-linux-gnu/".to_owned(), 0o755),
                ("lib/x86_64-linux-gnu/libc.so.6".to_owned(), 0o755),
                ("tmp/".to_owned(), 0o1777),
            ]
        );
    }

    #[test]
    fn digests_match_the_blobs_and_diff_ids_the_uncompressed_layers() {
        let image = assemble(&spec(b"binary")).expect("assemble");
        let dir = tempfile::tempdir().expect("tmp");
        write_layout(&image, dir.path()).expect("write");
        let layout = read_layout(dir.path()).expect("read back");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("digest")).expect("digest"),
            format!("{}\n", image.manifest.digest)
        );
        assert_eq!(
            layout.manifest.digest,
            sha256_digest(&layout.manifest.bytes)
        );
        let parsed: Manifest = serde_json::from_slice(&layout.manifest.bytes).expect("manifest");
        assert_eq!(parsed.media_type, MANIFEST_MEDIA_TYPE);
        assert_eq!(parsed.config.digest, sha256_digest(&layout.config.bytes));
        assert_eq!(parsed.config.size, layout.config.bytes.len() as u64);
        let diff_ids = &layout.image_config.rootfs.diff_ids;
        assert_eq!(diff_ids.len(), 2);
        for ((descriptor, path), diff_id) in layout.layers.iter().zip(diff_ids) {
            let gz = std::fs::read(path).expect("layer");
            assert_eq!(descriptor.digest, sha256_digest(&gz));
            assert_eq!(descriptor.size, gz.len() as u64);
            assert_eq!(*diff_id, sha256_digest(&gunzip(&gz)));
            assert_ne!(*diff_id, descriptor.digest);
        }
        assert_eq!(layout.image_config.created, "2023-11-14T22:13:20Z");
        assert_eq!(
            layout.image_config.config.user.as_deref(),
            Some("65532:65532")
        );
    }

    #[test]
    fn a_tampered_blob_is_refused_on_read() {
        let image = assemble(&spec(b"binary")).expect("assemble");
        let dir = tempfile::tempdir().expect("tmp");
        write_layout(&image, dir.path()).expect("write");
        let path = blob_path(dir.path(), &image.layers[1].blob.digest).expect("path");
        std::fs::write(&path, b"not the layer").expect("overwrite");
        let err = read_layout(dir.path()).err().expect("must fail");
        assert!(format!("{err:#}").contains("has digest"), "{err:#}");
    }

    #[test]
    fn duplicate_and_escaping_paths_are_refused() {
        let mut s = spec(b"x");
        s.layers[1]
            .entries
            .push(Entry::file("app/startupwebapp", 0o755, b"y".to_vec()));
        assert!(assemble(&s).is_err());
        let mut s = spec(b"x");
        s.layers[1]
            .entries
            .push(Entry::file("app/../etc/shadow", 0o600, b"y".to_vec()));
        assert!(assemble(&s).is_err());
    }
}
