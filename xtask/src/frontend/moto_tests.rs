//! `deploy` against a real moto server (S3 and CloudFront), one per test.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig, ViewerProtocolPolicy,
};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;

use super::plan::tests::{TempDir, sample_storefront};
use super::sync::Reason;
use super::*;

struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new(crate::cdk::python_tool("moto_server").unwrap())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts (target/tools-venv, xtask/python-tools.txt)");
        let addr = format!("127.0.0.1:{port}");
        // Built before the wait, so a start-up timeout still kills the child.
        let moto = Self {
            child,
            endpoint: format!("http://{addr}"),
        };
        for _ in 0..300 {
            if util::http_status(&addr, "/").is_some() {
                return moto;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto_server did not answer on {addr} within 30 s");
    }

    async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bucket and a distribution, as the frontend stack would have them.
async fn environment(clients: &Clients) -> Target {
    clients
        .s3
        .create_bucket()
        .bucket("storefront")
        .send()
        .await
        .unwrap();
    let origin = Origin::builder()
        .id("site")
        .domain_name("storefront.s3.us-east-1.amazonaws.com")
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference("frontend-deploy-test")
        .comment("storefront")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("site")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let created = clients
        .cloudfront
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .unwrap();
    Target {
        bucket: "storefront".into(),
        distribution_id: created.distribution().unwrap().id().to_string(),
    }
}

fn options() -> Options {
    Options {
        concurrency: 8,
        wait_timeout: Duration::from_secs(30),
        poll_interval: Duration::from_millis(200),
    }
}

async fn put(clients: &Clients, key: &str, body: &str, content_type: &str) {
    clients
        .s3
        .put_object()
        .bucket("storefront")
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .content_type(content_type)
        .send()
        .await
        .unwrap();
}

async fn headers(clients: &Clients, key: &str) -> Option<(String, String)> {
    let head = clients
        .s3
        .head_object()
        .bucket("storefront")
        .key(key)
        .send()
        .await
        .ok()?;
    Some((
        head.content_type().unwrap_or_default().to_string(),
        head.cache_control().unwrap_or_default().to_string(),
    ))
}

async fn body(clients: &Clients, key: &str) -> String {
    let object = clients
        .s3
        .get_object()
        .bucket("storefront")
        .key(key)
        .send()
        .await
        .unwrap();
    String::from_utf8(object.body.collect().await.unwrap().to_vec()).unwrap()
}

async fn bucket_keys(clients: &Clients) -> Vec<String> {
    sync::list(&clients.s3, "storefront")
        .await
        .unwrap()
        .into_keys()
        .collect()
}

async fn invalidation_count(clients: &Clients, target: &Target) -> usize {
    let list = clients
        .cloudfront
        .list_invalidations()
        .distribution_id(&target.distribution_id)
        .send()
        .await
        .unwrap();
    list.invalidation_list()
        .map(|l| l.items().len())
        .unwrap_or(0)
}

async fn invalidated_paths(clients: &Clients, target: &Target, id: &str) -> Vec<String> {
    let answer = clients
        .cloudfront
        .get_invalidation()
        .distribution_id(&target.distribution_id)
        .id(id)
        .send()
        .await
        .unwrap();
    let mut paths = answer
        .invalidation()
        .and_then(|i| i.invalidation_batch())
        .and_then(|b| b.paths())
        .map(|p| p.items().to_vec())
        .unwrap_or_default();
    paths.sort();
    paths
}

fn keys_with(outcome: &Outcome, reason: Reason) -> Vec<&str> {
    outcome
        .uploads
        .iter()
        .filter(|(_, r)| *r == reason)
        .map(|(k, _)| k.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_only_what_changed_and_invalidates_only_that() {
    let moto = Moto::start();
    let clients = Clients::new(&moto.sdk().await);
    let target = environment(&clients).await;
    let site = sample_storefront();
    // Left by the legacy workflow: an extensionless page key, and a file with
    // the right content but no cache header.
    put(&clients, "about", "<h1>old about</h1>", "text/html").await;
    put(&clients, "robots.txt", "User-agent: *\n", "text/plain").await;
    let recorder = Recorder::new(false);

    // First deploy: everything goes up with its headers; the legacy key goes.
    let plan1 = plan::plan(&site.0).unwrap();
    let first = deploy(&clients, &plan1, &target, &options(), &recorder)
        .await
        .unwrap();
    assert_eq!(first.uploads.len(), plan1.files.len());
    assert_eq!(keys_with(&first, Reason::Headers), ["robots.txt"]);
    assert_eq!(first.deletes, ["about"]);
    let planned: Vec<String> = plan1.files.iter().map(|f| f.key.clone()).collect();
    assert_eq!(bucket_keys(&clients).await, planned);
    let page = (
        "text/html; charset=utf-8".to_string(),
        "no-cache".to_string(),
    );
    let immutable = "public, max-age=31536000, immutable".to_string();
    assert_eq!(
        headers(&clients, "about/index.html").await,
        Some(page.clone())
    );
    assert_eq!(headers(&clients, "index.html").await, Some(page.clone()));
    assert_eq!(
        headers(&clients, "account/order/index.html").await,
        Some(page.clone())
    );
    assert_eq!(
        headers(&clients, "js/index-0.0.2.js").await,
        Some(("text/javascript; charset=utf-8".into(), immutable.clone()))
    );
    assert_eq!(
        headers(&clients, "css/main-0.0.3.css").await,
        Some(("text/css; charset=utf-8".into(), immutable.clone()))
    );
    assert_eq!(
        headers(&clients, "img/logo.png").await,
        Some(("image/png".into(), immutable))
    );
    assert_eq!(
        headers(&clients, "robots.txt").await,
        Some((
            "text/plain; charset=utf-8".into(),
            "public, max-age=3600".into()
        ))
    );
    assert_eq!(body(&clients, "about/index.html").await, "<h1>about</h1>");
    let id = first.invalidation_id.clone().expect("an invalidation");
    assert_eq!(
        invalidated_paths(&clients, &target, &id).await,
        ["/about", "/robots.txt"]
    );

    // Second deploy: one change, one deletion, one addition.
    site.write("css/main-0.0.3.css", "body{color:red}");
    site.remove("products");
    site.write("contact", "<h1>contact</h1>");
    let plan2 = plan::plan(&site.0).unwrap();
    let second = deploy(&clients, &plan2, &target, &options(), &recorder)
        .await
        .unwrap();
    assert_eq!(
        second.uploads,
        [
            ("contact/index.html".to_string(), Reason::New),
            ("css/main-0.0.3.css".to_string(), Reason::Content),
        ]
    );
    assert_eq!(second.deletes, ["products/index.html"]);
    assert_eq!(headers(&clients, "products/index.html").await, None);
    assert_eq!(headers(&clients, "contact/index.html").await, Some(page));
    assert_eq!(
        body(&clients, "css/main-0.0.3.css").await,
        "body{color:red}"
    );
    let id = second.invalidation_id.clone().expect("an invalidation");
    assert_eq!(
        invalidated_paths(&clients, &target, &id).await,
        ["/css/main-0.0.3.css", "/products", "/products/index.html"]
    );
    assert_eq!(invalidation_count(&clients, &target).await, 2);

    // Third deploy: nothing changed, nothing happens.
    let plan3 = plan::plan(&site.0).unwrap();
    let third = deploy(&clients, &plan3, &target, &options(), &recorder)
        .await
        .unwrap();
    assert!(third.uploads.is_empty(), "{:?}", third.uploads);
    assert!(third.deletes.is_empty());
    assert!(third.invalidation_paths.is_empty());
    assert_eq!(third.invalidation_id, None);
    assert_eq!(invalidation_count(&clients, &target).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_lists_every_call_and_changes_nothing() {
    let moto = Moto::start();
    let clients = Clients::new(&moto.sdk().await);
    let target = environment(&clients).await;
    let site = sample_storefront();
    put(&clients, "old.txt", "old", "text/plain").await;
    let plan = plan::plan(&site.0).unwrap();
    let recorder = Recorder::new(true);

    let outcome = deploy(&clients, &plan, &target, &options(), &recorder)
        .await
        .unwrap();
    assert_eq!(outcome.uploads.len(), plan.files.len());
    assert_eq!(outcome.deletes, ["old.txt"]);
    assert_eq!(outcome.invalidation_paths, ["/old.txt"]);
    assert_eq!(outcome.invalidation_id, None);

    let calls = recorder.calls();
    let puts = calls
        .iter()
        .filter(|c| c.starts_with("s3:PutObject s3://storefront/"))
        .count();
    assert_eq!(puts, plan.files.len(), "{calls:#?}");
    assert!(calls.contains(&
        "s3:PutObject s3://storefront/about/index.html (new; Content-Type: text/html; charset=utf-8; \
         Cache-Control: no-cache; 14 bytes)"
            .to_string()), "{calls:#?}");
    assert!(calls.contains(&"s3:DeleteObjects s3://storefront: old.txt".to_string()));
    assert!(calls.contains(&format!(
        "cloudfront:CreateInvalidation {}: /old.txt",
        target.distribution_id
    )));
    assert_eq!(calls.len(), plan.files.len() + 2);

    assert_eq!(bucket_keys(&clients).await, ["old.txt"]);
    assert_eq!(invalidation_count(&clients, &target).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_reported_with_what_to_check() {
    let moto = Moto::start();
    let clients = Clients::new(&moto.sdk().await);
    let site = TempDir::new("missing-bucket");
    site.write("index.html", "home");
    let plan = plan::plan(&site.0).unwrap();
    let target = Target {
        bucket: "no-such-bucket".into(),
        distribution_id: "E123".into(),
    };
    let error = deploy(&clients, &plan, &target, &options(), &Recorder::new(false))
        .await
        .unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("cannot list s3://no-such-bucket"), "{text}");
    assert!(text.contains("NoSuchBucket"), "{text}");
}
