//! The OCI distribution API, as much as a push needs: blob HEAD, monolithic
//! blob upload (POST, then PUT ?digest=), manifest PUT and GET. Plus a
//! throwaway local `docker-registry` for tests and `cargo xtask test`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::{StatusCode, Url, header};

use super::oci::MANIFEST_MEDIA_TYPE;
use crate::util;

/// Where images go: `base` is `http(s)://host[:port]`, `repository` the name.
#[derive(Clone)]
pub struct Registry {
    pub base: Url,
    pub repository: String,
    /// The whole `Authorization` header value (ECR: `Basic …`).
    pub authorization: Option<String>,
}

impl std::fmt::Debug for Registry {
    // The token must not reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("base", &self.base.as_str())
            .field("repository", &self.repository)
            .field("authorization", &self.authorization.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Registry {
    /// `host[:port]/repository`; https unless `insecure`, which is only
    /// allowed for a registry on loopback.
    pub fn parse(reference: &str, insecure: bool) -> Result<Registry> {
        let reference = reference
            .strip_prefix("https://")
            .or_else(|| reference.strip_prefix("http://"))
            .unwrap_or(reference);
        let (host, repository) = reference
            .split_once('/')
            .filter(|(h, r)| !h.is_empty() && !r.is_empty())
            .with_context(|| format!("'{reference}' must look like host[:port]/repository"))?;
        let valid_repo = repository.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
        if !valid_repo {
            bail!(
                "'{repository}' is not a repository name (lower-case letters, digits, . _ - and /)"
            );
        }
        let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let loopback = hostname == "localhost"
            || hostname == "[::1]"
            || hostname
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback());
        if insecure && !loopback {
            bail!("--insecure (plain http) is only allowed for a registry on loopback, not {host}");
        }
        let scheme = if insecure { "http" } else { "https" };
        Ok(Registry {
            base: Url::parse(&format!("{scheme}://{host}/"))
                .with_context(|| format!("'{host}' is not a registry host"))?,
            repository: repository.to_owned(),
            authorization: None,
        })
    }

    /// `host[:port]/repository`.
    pub fn name(&self) -> String {
        let host = self.base.host_str().unwrap_or("?");
        match self.base.port() {
            Some(port) => format!("{host}:{port}/{}", self.repository),
            None => format!("{host}/{}", self.repository),
        }
    }

    pub fn url(&self, rest: &str) -> Result<Url> {
        self.base
            .join(&format!("v2/{}/{rest}", self.repository))
            .context("cannot build a registry URL")
    }
}

/// A distribution-API client for one repository.
pub struct Client {
    http: reqwest::Client,
    registry: Registry,
}

impl Client {
    pub fn new(registry: Registry) -> Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .connect_timeout(Duration::from_secs(15))
            .user_agent("startupwebapp-xtask")
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client { http, registry })
    }

    fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match &self.registry.authorization {
            Some(value) => request.header(header::AUTHORIZATION, value),
            None => request,
        }
    }

    /// HEAD /v2/<name>/blobs/<digest>: whether the registry has the blob.
    pub async fn blob_exists(&self, digest: &str) -> Result<bool> {
        let url = self.registry.url(&format!("blobs/{digest}"))?;
        let response = self
            .request(reqwest::Method::HEAD, url.clone())
            .send()
            .await
            .with_context(|| format!("HEAD {url} failed"))?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(failure("HEAD", &url, response).await),
        }
    }

    /// POST /v2/<name>/blobs/uploads/, then PUT <location>?digest=<digest>.
    pub async fn upload_blob(&self, digest: &str, bytes: Vec<u8>) -> Result<()> {
        let url = self.registry.url("blobs/uploads/")?;
        let response = self
            .request(reqwest::Method::POST, url.clone())
            .header(header::CONTENT_LENGTH, 0)
            .send()
            .await
            .with_context(|| format!("POST {url} failed"))?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(failure("POST", &url, response).await);
        }
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .with_context(|| format!("POST {url} answered 202 without a Location"))?;
        // Location may be relative to the registry.
        let mut put = self
            .registry
            .base
            .join(location)
            .with_context(|| format!("bad upload Location '{location}'"))?;
        put.query_pairs_mut().append_pair("digest", digest);
        let size = bytes.len();
        let response = self
            .request(reqwest::Method::PUT, put.clone())
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, size)
            .body(bytes)
            .send()
            .await
            .with_context(|| format!("PUT of {digest} ({size} bytes) failed"))?;
        if response.status() != StatusCode::CREATED {
            return Err(failure("PUT", &put, response).await);
        }
        Ok(())
    }

    /// PUT /v2/<name>/manifests/<tag>; returns the registry's
    /// `Docker-Content-Digest`.
    pub async fn put_manifest(&self, tag: &str, manifest: &[u8]) -> Result<String> {
        let url = self.registry.url(&format!("manifests/{tag}"))?;
        let response = self
            .request(reqwest::Method::PUT, url.clone())
            .header(header::CONTENT_TYPE, MANIFEST_MEDIA_TYPE)
            .body(manifest.to_vec())
            .send()
            .await
            .with_context(|| format!("PUT {url} failed"))?;
        if response.status() != StatusCode::CREATED {
            return Err(failure("PUT", &url, response).await);
        }
        response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .with_context(|| format!("PUT {url} answered without Docker-Content-Digest"))
    }

    /// GET /v2/<name>/manifests/<reference> (a tag or a digest): the bytes.
    pub async fn get_manifest(&self, reference: &str) -> Result<Vec<u8>> {
        let url = self.registry.url(&format!("manifests/{reference}"))?;
        let response = self
            .request(reqwest::Method::GET, url.clone())
            .header(header::ACCEPT, MANIFEST_MEDIA_TYPE)
            .send()
            .await
            .with_context(|| format!("GET {url} failed"))?;
        if response.status() != StatusCode::OK {
            return Err(failure("GET", &url, response).await);
        }
        Ok(response
            .bytes()
            .await
            .with_context(|| format!("GET {url}: reading the body failed"))?
            .to_vec())
    }
}

/// An error naming the request, the status and the registry's own message.
async fn failure(method: &str, url: &Url, response: reqwest::Response) -> anyhow::Error {
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    let mut message = format!("{method} {url} answered {status}: {}", body.trim());
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        message.push_str(&format!(
            "\n  the registry wants credentials ({}); for ECR use --ecr, which signs in with the AWS SDK",
            challenge.as_deref().unwrap_or("no challenge")
        ));
    }
    anyhow::anyhow!(message)
}

/// Debian's distribution registry on a free loopback port with filesystem
/// storage in a temporary folder; killed and removed on drop.
pub struct LocalRegistry {
    child: Child,
    pub addr: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl LocalRegistry {
    pub fn start() -> Result<LocalRegistry> {
        if !util::on_path("docker-registry") {
            bail!("docker-registry is not installed: apt-get install docker-registry");
        }
        let dir = tempfile::Builder::new()
            .prefix("xtask-registry-")
            .tempdir()
            .context("cannot create a temporary folder")?;
        let port = util::free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )?;
        let log = dir.path().join("registry.log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("cannot start docker-registry")?;
        let mut registry = LocalRegistry {
            child,
            addr,
            log,
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            if util::http_status(&registry.addr, "/v2/") == Some(200) {
                return Ok(registry);
            }
            if let Some(status) = registry.child.try_wait()? {
                let log = std::fs::read_to_string(&registry.log).unwrap_or_default();
                bail!("docker-registry exited ({status}):\n{log}");
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!(
                    "docker-registry did not answer GET /v2/ on {} within 20 s",
                    registry.addr
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        // A throwaway: its storage goes with the folder.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_into_base_and_repository() {
        let r = Registry::parse("127.0.0.1:5000/team/app", true).expect("parse");
        assert_eq!(r.base.as_str(), "http://127.0.0.1:5000/");
        assert_eq!(r.repository, "team/app");
        assert_eq!(
            r.url("manifests/v1").expect("url").as_str(),
            "http://127.0.0.1:5000/v2/team/app/manifests/v1"
        );
        assert_eq!(r.name(), "127.0.0.1:5000/team/app");
        let r = Registry::parse(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/startupwebapp",
            false,
        )
        .expect("parse");
        assert_eq!(r.base.scheme(), "https");
    }

    #[test]
    fn plain_http_off_loopback_and_bad_names_are_refused() {
        assert!(Registry::parse("registry.example.com/app", true).is_err());
        assert!(Registry::parse("127.0.0.1:5000/App", true).is_err());
        assert!(Registry::parse("127.0.0.1:5000", true).is_err());
    }
}
