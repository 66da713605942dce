//! What the storefront bucket should hold, read from a local folder: one
//! object key per file with its Content-Type, Cache-Control and MD5.
//!
//! Rules (docs/infrastructure.md, "Storefront function"): the CloudFront
//! function maps `/about` to `/about/index.html`, so an extensionless page file
//! `about` is stored as `about/index.html`. Pages are never cached at the edge;
//! versioned assets are immutable.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use md5::{Digest, Md5};

pub const PAGE_CACHE_CONTROL: &str = "no-cache";
pub const IMMUTABLE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
pub const SHORT_CACHE_CONTROL: &str = "public, max-age=3600";
pub const HTML: &str = "text/html; charset=utf-8";

/// Top-level folders whose file names carry a version (CloudFront caches them
/// with CachingOptimized, infra-cdk `VERSIONED_ASSET_PATHS`).
const VERSIONED_DIRS: [&str; 4] = ["js", "css", "img", "fonts"];

/// Folders of the storefront repository that are tooling or tests, never site.
const SKIPPED_DIRS: [&str; 5] = [
    "unittests",
    "node_modules",
    "playwright-tests",
    "playwright-report",
    "test-results",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Object key, `/`-separated, no leading slash.
    pub key: String,
    pub source: PathBuf,
    pub size: u64,
    /// Lower-case hex MD5 of the content: the ETag S3 gives a single-part upload.
    pub md5_hex: String,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

impl PlannedFile {
    pub fn is_page(&self) -> bool {
        self.content_type == HTML
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    /// Sorted by key.
    pub files: Vec<PlannedFile>,
    /// Relative paths left out (dotfiles, tests, tooling), sorted.
    pub skipped: Vec<String>,
}

impl Plan {
    pub fn get(&self, key: &str) -> Option<&PlannedFile> {
        self.files
            .binary_search_by(|f| f.key.as_str().cmp(key))
            .ok()
            .map(|i| &self.files[i])
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Walks `dir` and plans every file. Fails when `dir` has no `index.html`:
/// the deploy deletes whatever the plan lacks, so a wrong folder must not
/// get that far.
pub fn plan(dir: &Path) -> Result<Plan> {
    if !dir.is_dir() {
        bail!(
            "{} is not a folder: pass the storefront checkout with --dir",
            dir.display()
        );
    }
    let mut plan = Plan::default();
    walk(dir, "", &mut plan)?;
    plan.files.sort_by(|a, b| a.key.cmp(&b.key));
    plan.skipped.sort();
    if let Some(pair) = plan.files.windows(2).find(|w| w[0].key == w[1].key) {
        bail!(
            "{} and {} would both be stored as {}: remove one of them",
            pair[0].source.display(),
            pair[1].source.display(),
            pair[0].key
        );
    }
    if plan.get("index.html").is_none() {
        bail!(
            "{} has no index.html: is it the storefront folder? (the deploy removes every \
             object the folder does not have, so it refuses to run without the home page)",
            dir.display()
        );
    }
    Ok(plan)
}

fn walk(dir: &Path, prefix: &str, plan: &mut Plan) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read folder {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read folder {}", dir.display()))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            bail!(
                "{} is not UTF-8: rename it (object keys are UTF-8)",
                path.display()
            );
        };
        let relative = format!("{prefix}{name}");
        // Follows symlinks to files; a symlinked folder could loop, so it is skipped.
        let is_symlink = entry.file_type()?.is_symlink();
        let meta =
            std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            if is_symlink || is_skipped_dir(&name) {
                plan.skipped.push(format!("{relative}/"));
            } else {
                walk(&path, &format!("{relative}/"), plan)?;
            }
        } else if is_skipped_file(&relative) {
            plan.skipped.push(relative);
        } else {
            let content =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let key = key_for(&relative);
            plan.files.push(PlannedFile {
                content_type: content_type_for(&key),
                cache_control: cache_control_for(&key),
                md5_hex: hex(&Md5::digest(&content)),
                size: content.len() as u64,
                source: path,
                key,
            });
        }
    }
    Ok(())
}

fn is_skipped_dir(name: &str) -> bool {
    name.starts_with('.') || SKIPPED_DIRS.contains(&name)
}

/// Dotfiles anywhere; npm manifests and Markdown anywhere; repository tooling
/// at the top level (linter/test configs, CI specs, the licence text, which
/// would otherwise become a page).
fn is_skipped_file(relative: &str) -> bool {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    let top_level = !relative.contains('/');
    name.starts_with('.')
        || (name.starts_with("package") && name.ends_with(".json"))
        || name.ends_with(".md")
        || (top_level
            && (name.ends_with(".config.js")
                || name.ends_with(".config.mjs")
                || name.ends_with(".config.cjs")
                || name.ends_with(".yml")
                || name.ends_with(".yaml")
                || name.starts_with("LICENSE")))
}

/// `about` → `about/index.html` (last segment without a dot, as the
/// CloudFront function decides); anything else keeps its path.
pub fn key_for(relative: &str) -> String {
    let last = relative.rsplit('/').next().unwrap_or(relative);
    if last.contains('.') {
        relative.to_string()
    } else {
        format!("{relative}/index.html")
    }
}

fn extension(key: &str) -> Option<String> {
    let last = key.rsplit('/').next().unwrap_or(key);
    last.rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
}

pub fn content_type_for(key: &str) -> &'static str {
    match extension(key).as_deref() {
        Some("html" | "htm") => HTML,
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("ttf") => "font/ttf",
        Some("otf") => "font/otf",
        Some("txt") => "text/plain; charset=utf-8",
        Some("xml") => "application/xml; charset=utf-8",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

pub fn cache_control_for(key: &str) -> &'static str {
    let top = key.split('/').next().unwrap_or(key);
    if content_type_for(key) == HTML {
        PAGE_CACHE_CONTROL
    } else if key.contains('/') && VERSIONED_DIRS.contains(&top) {
        IMMUTABLE_CACHE_CONTROL
    } else {
        // robots.txt, sitemap.xml, favicon.ico...: not versioned, so short.
        SHORT_CACHE_CONTROL
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly
pub mod tests {
    use super::*;

    /// A folder under the system temp dir, removed on drop.
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(label: &str) -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "xtask-frontend-{label}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        pub fn write(&self, relative: &str, content: &str) {
            let path = self.0.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }

        pub fn remove(&self, relative: &str) {
            std::fs::remove_file(self.0.join(relative)).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A small copy of the storefront's layout (infra.md §2.8).
    pub fn sample_storefront() -> TempDir {
        let dir = TempDir::new("site");
        for (path, content) in [
            ("index.html", "<h1>home</h1>"),
            ("error.html", "<h1>oops</h1>"),
            ("header.html", "<nav></nav>"),
            ("robots.txt", "User-agent: *\n"),
            ("sitemap.xml", "<urlset/>"),
            ("about", "<h1>about</h1>"),
            ("products", "<h1>products</h1>"),
            ("account/index.html", "<h1>account</h1>"),
            ("account/order", "<h1>order</h1>"),
            ("checkout/confirm", "<h1>confirm</h1>"),
            ("js/index-0.0.2.js", "var x = 1;"),
            ("css/main-0.0.3.css", "body{}"),
            ("img/logo.png", "png-bytes"),
            ("img/icons/cart.svg", "<svg/>"),
            ("fonts/a.woff2", "woff2"),
            ("favicon.ico", "ico"),
            ("data.bin", "bytes"),
            // Not site content:
            (".eslintrc", "{}"),
            (".github/workflows/deploy.yml", "on: push"),
            ("unittests/index_tests.html", "<html></html>"),
            ("node_modules/jquery/jquery.js", "jq"),
            ("package.json", "{}"),
            ("package-lock.json", "{}"),
            ("README.md", "# readme"),
            ("js/NOTES.md", "notes"),
            ("playwright.config.js", "export default {}"),
            ("buildspec_prod_deploy.yml", "version: 0.2"),
            ("LICENSE", "MIT"),
        ] {
            dir.write(path, content);
        }
        dir
    }

    fn keys(plan: &Plan) -> Vec<&str> {
        plan.files.iter().map(|f| f.key.as_str()).collect()
    }

    #[test]
    fn extensionless_pages_become_index_html_and_html_files_keep_their_path() {
        let dir = sample_storefront();
        let plan = plan(&dir.0).unwrap();
        assert_eq!(
            keys(&plan),
            [
                "about/index.html",
                "account/index.html",
                "account/order/index.html",
                "checkout/confirm/index.html",
                "css/main-0.0.3.css",
                "data.bin",
                "error.html",
                "favicon.ico",
                "fonts/a.woff2",
                "header.html",
                "img/icons/cart.svg",
                "img/logo.png",
                "index.html",
                "js/index-0.0.2.js",
                "products/index.html",
                "robots.txt",
                "sitemap.xml",
            ]
        );
        let about = plan.get("about/index.html").unwrap();
        assert_eq!(about.source, dir.0.join("about"));
        assert_eq!(about.content_type, "text/html; charset=utf-8");
        assert_eq!(about.cache_control, "no-cache");
        assert!(about.is_page());
        assert_eq!(about.size, "<h1>about</h1>".len() as u64);
    }

    #[test]
    fn tests_tooling_and_dotfiles_are_skipped_and_listed() {
        let dir = sample_storefront();
        let plan = plan(&dir.0).unwrap();
        assert_eq!(
            plan.skipped,
            [
                ".eslintrc",
                ".github/",
                "LICENSE",
                "README.md",
                "buildspec_prod_deploy.yml",
                "js/NOTES.md",
                "node_modules/",
                "package-lock.json",
                "package.json",
                "playwright.config.js",
                "unittests/",
            ]
        );
    }

    #[test]
    fn headers_follow_the_kind_of_file() {
        let dir = sample_storefront();
        let plan = plan(&dir.0).unwrap();
        let headers = |key: &str| {
            let f = plan.get(key).unwrap();
            (f.content_type, f.cache_control)
        };
        let immutable = "public, max-age=31536000, immutable";
        assert_eq!(
            headers("index.html"),
            ("text/html; charset=utf-8", "no-cache")
        );
        assert_eq!(
            headers("account/index.html"),
            ("text/html; charset=utf-8", "no-cache")
        );
        assert_eq!(
            headers("header.html"),
            ("text/html; charset=utf-8", "no-cache")
        );
        assert_eq!(
            headers("js/index-0.0.2.js"),
            ("text/javascript; charset=utf-8", immutable)
        );
        assert_eq!(
            headers("css/main-0.0.3.css"),
            ("text/css; charset=utf-8", immutable)
        );
        assert_eq!(headers("img/logo.png"), ("image/png", immutable));
        assert_eq!(headers("img/icons/cart.svg"), ("image/svg+xml", immutable));
        assert_eq!(headers("fonts/a.woff2"), ("font/woff2", immutable));
        assert_eq!(
            headers("robots.txt"),
            ("text/plain; charset=utf-8", "public, max-age=3600")
        );
        assert_eq!(
            headers("sitemap.xml"),
            ("application/xml; charset=utf-8", "public, max-age=3600")
        );
        assert_eq!(
            headers("favicon.ico"),
            ("image/x-icon", "public, max-age=3600")
        );
        assert_eq!(
            headers("data.bin"),
            ("application/octet-stream", "public, max-age=3600")
        );
        // MD5 of "var x = 1;" (checked with md5sum).
        assert_eq!(
            plan.get("js/index-0.0.2.js").unwrap().md5_hex,
            "b28746fee4e03c3f8efbb0d32e0514c7"
        );
    }

    #[test]
    fn content_types_by_extension() {
        for (key, expected) in [
            ("a.JPG", "image/jpeg"),
            ("a.jpeg", "image/jpeg"),
            ("a.gif", "image/gif"),
            ("a.webp", "image/webp"),
            ("a.woff", "font/woff"),
            ("a.ttf", "font/ttf"),
            ("a.json", "application/json"),
            ("js/a.js.map", "application/json"),
            ("a.pdf", "application/pdf"),
            ("a.unknown", "application/octet-stream"),
        ] {
            assert_eq!(content_type_for(key), expected, "{key}");
        }
        // A top-level file named like a versioned folder is not versioned.
        assert_eq!(cache_control_for("js.txt"), SHORT_CACHE_CONTROL);
    }

    #[test]
    fn a_folder_without_index_html_is_refused() {
        let dir = TempDir::new("noindex");
        dir.write("about", "x");
        let error = plan(&dir.0).unwrap_err().to_string();
        assert!(error.contains("has no index.html"), "{error}");
        let missing = plan(&dir.0.join("missing")).unwrap_err().to_string();
        assert!(missing.contains("is not a folder"), "{missing}");
    }
}
