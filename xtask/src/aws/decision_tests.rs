//! The deploy / rollback / migrate / admin decisions against the in-memory
//! fake port: what moto cannot do (failing migrations, circuit-breaker
//! rollbacks, rollouts that never settle, expired images).

use std::time::Duration;

use super::deploy::{self, ImageChoice, Options};
use super::fake_port::{Behaviour, FakePort, app, digest, td_arn};
use super::records::{self, Kind, Record, Status};
use super::{admin, migrate, rollback};

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
        .block_on(future)
}

fn options(n: u8) -> Options {
    Options {
        image: ImageChoice::Digest(digest(n)),
        timeout: Duration::from_secs(600),
    }
}

fn saved_records(port: &FakePort, tenant: &str) -> Vec<Record> {
    block_on(records::list(port, &app(tenant))).expect("records")
}

#[test]
fn deploy_registers_migrates_rolls_and_records() {
    let port = FakePort::with_tenants(&["a"]);
    block_on(deploy::deploy_tenant(&port, &app("a"), &options(2))).expect("deploy succeeds");
    let web2 = td_arn("swa-t-a-web", 2);
    let service = port.with(|s| s.services["swa-t-a-cluster"].clone());
    assert_eq!(service.task_definition, web2);
    // One new revision per family, with the new image by digest.
    let image = format!("{}@{}", app("a").repository_uri, digest(2));
    let registered = port.with(|s| s.task_defs.iter().filter(|t| t.revision == 2).count());
    assert_eq!(registered, 2);
    let migration2 = port.with(|s| {
        s.task_defs
            .iter()
            .find(|t| t.arn == td_arn("swa-t-a-migration", 2))
            .cloned()
    });
    assert_eq!(
        migration2.map(|t| t.containers[0].image.clone()),
        Some(image.clone())
    );
    // The migration ran the new migration revision, as it is.
    let runs = port.with(|s| s.run_requests.clone());
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].task_definition, td_arn("swa-t-a-migration", 2));
    assert_eq!(runs[0].command_override, None);
    assert!(runs[0].awsvpc);
    assert_eq!(runs[0].security_groups, vec!["sg-1".to_string()]);
    // The migration ran before the service was touched, and /healthz was checked.
    let calls = port.calls();
    let run_at = calls.iter().position(|c| c.starts_with("RunTask"));
    let update_at = calls.iter().position(|c| c.starts_with("UpdateService"));
    assert!(run_at < update_at && run_at.is_some());
    assert!(calls.contains(&"GET https://api.a.example.com/healthz".to_string()));
    let saved = saved_records(&port, "a");
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].status, Status::Succeeded);
    assert_eq!(saved[0].kind, Kind::Deploy);
    assert_eq!(saved[0].image, image);
    assert_eq!(saved[0].task_definition_arn, web2);
    assert_eq!(
        saved[0].previous_task_definition_arn,
        td_arn("swa-t-a-web", 1)
    );
}

#[test]
fn failed_migration_fails_the_deploy_without_touching_the_service() {
    let port = FakePort::with_tenants(&["a"]);
    port.with(|s| s.exit_codes.insert("swa-t-a-cluster".into(), 1));
    let err = block_on(deploy::deploy_tenant(&port, &app("a"), &options(2)))
        .expect_err("a failed migration fails the deploy");
    let text = format!("{err:#}");
    assert!(text.contains("exit code 1"), "{text}");
    assert!(text.contains("migration/migration/task1"), "{text}");
    let calls = port.calls();
    assert!(
        !calls.iter().any(|c| c.starts_with("UpdateService")),
        "{calls:?}"
    );
    assert!(
        calls
            .contains(&"GetLogEvents /ecs/swa-t-a/migration migration/migration/task1".to_string()),
        "{calls:?}"
    );
    let service = port.with(|s| s.services["swa-t-a-cluster"].clone());
    assert_eq!(service.task_definition, td_arn("swa-t-a-web", 1));
    let saved = saved_records(&port, "a");
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].status, Status::Failed);
}

#[test]
fn circuit_breaker_rollback_fails_the_deploy_and_is_recorded() {
    let port = FakePort::with_tenants(&["a"]);
    port.with(|s| {
        s.behaviour
            .insert("swa-t-a-cluster".into(), Behaviour::CircuitBreakerRollback)
    });
    let err = block_on(deploy::deploy_tenant(&port, &app("a"), &options(2)))
        .expect_err("a rolled-back deployment fails the deploy");
    let text = format!("{err:#}");
    assert!(text.contains("circuit breaker"), "{text}");
    assert!(text.contains("swa-t-a-web:1"), "{text}");
    let saved = saved_records(&port, "a");
    assert_eq!(saved[0].status, Status::RolledBackByCircuitBreaker);
    // No smoke test of a service that is not on the new revision.
    assert!(!port.calls().iter().any(|c| c.starts_with("GET ")));
}

#[test]
fn rollout_that_never_settles_times_out() {
    let port = FakePort::with_tenants(&["a"]);
    port.with(|s| {
        s.behaviour
            .insert("swa-t-a-cluster".into(), Behaviour::NeverSettles)
    });
    let mut opts = options(2);
    opts.timeout = Duration::from_secs(120);
    let err = block_on(deploy::deploy_tenant(&port, &app("a"), &opts))
        .expect_err("the wait ends with an error");
    let text = format!("{err:#}");
    assert!(text.contains("steady state"), "{text}");
    assert!(text.contains("cargo xtask rollback"), "{text}");
    // It waited the timeout (virtual clock), not for ever.
    let waited = port.with(|s| s.clock);
    assert!(
        waited >= Duration::from_secs(120) && waited < Duration::from_secs(200),
        "{waited:?}"
    );
    assert_eq!(saved_records(&port, "a")[0].status, Status::Failed);
}

#[test]
fn image_missing_from_ecr_is_refused_before_any_change() {
    let port = FakePort::with_tenants(&["a"]);
    let err =
        block_on(deploy::deploy_tenant(&port, &app("a"), &options(9))).expect_err("unknown digest");
    assert!(format!("{err:#}").contains(&digest(9)));
    assert!(!port.calls().iter().any(|c| c.starts_with("Register")));
}

#[test]
fn rollback_goes_to_the_newest_earlier_success_skipping_failures() {
    let port = FakePort::with_tenants(&["a"]);
    let a = app("a");
    block_on(deploy::deploy_tenant(&port, &a, &options(2))).expect("deploy 2");
    // A deploy whose migration fails leaves a failed record (web revision 3).
    port.with(|s| s.exit_codes.insert("swa-t-a-cluster".into(), 1));
    assert!(block_on(deploy::deploy_tenant(&port, &a, &options(3))).is_err());
    port.with(|s| s.exit_codes.insert("swa-t-a-cluster".into(), 0));
    block_on(deploy::deploy_tenant(&port, &a, &options(1))).expect("deploy 1 again");
    let history = saved_records(&port, "a");
    let statuses: Vec<Status> = history.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![Status::Succeeded, Status::Failed, Status::Succeeded]
    );
    let running = td_arn("swa-t-a-web", 4);
    let chosen = rollback::target(&history, &running, None).expect("a target");
    assert_eq!(chosen.digest, digest(2));
    assert_eq!(chosen.task_definition_arn, td_arn("swa-t-a-web", 2));

    block_on(rollback::rollback(
        &port,
        &a,
        None,
        Duration::from_secs(600),
    ))
    .expect("rollback");
    let service = port.with(|s| s.services["swa-t-a-cluster"].clone());
    assert_eq!(service.task_definition, td_arn("swa-t-a-web", 2));
    let newest = saved_records(&port, "a").remove(0);
    assert_eq!(newest.kind, Kind::Rollback);
    assert_eq!(newest.status, Status::Succeeded);
    assert_eq!(newest.previous_task_definition_arn, running);
    // Rollback registers nothing and runs no migration.
    let registered = port.with(|s| s.task_defs.len());
    assert_eq!(registered, 2 + 2 * 3);
    assert_eq!(port.with(|s| s.run_requests.len()), 3);
    // --to a failed deployment is refused.
    let failed_id = history[1].id.clone();
    assert!(rollback::target(&history, &running, Some(&failed_id)).is_err());
}

#[test]
fn rollback_refuses_an_image_expired_from_ecr() {
    let port = FakePort::with_tenants(&["a"]);
    let a = app("a");
    block_on(deploy::deploy_tenant(&port, &a, &options(2))).expect("deploy 2");
    block_on(deploy::deploy_tenant(&port, &a, &options(3))).expect("deploy 3");
    port.with(|s| {
        s.images
            .remove(&(a.repository_name().to_string(), digest(2)))
    });
    let updates_before = port
        .calls()
        .iter()
        .filter(|c| c.starts_with("UpdateService"))
        .count();
    let err = block_on(rollback::rollback(
        &port,
        &a,
        None,
        Duration::from_secs(600),
    ))
    .expect_err("expired image");
    let text = format!("{err:#}");
    assert!(text.contains(&digest(2)), "{text}");
    assert!(text.contains("no longer in ECR"), "{text}");
    let updates_after = port
        .calls()
        .iter()
        .filter(|c| c.starts_with("UpdateService"))
        .count();
    assert_eq!(updates_before, updates_after);
}

#[test]
fn admin_passes_only_a_command_and_registers_nothing() {
    let port = FakePort::with_tenants(&["a"]);
    let command: Vec<String> = [
        "create-superuser",
        "--username",
        "admin",
        "--email",
        "a@example.com",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    block_on(admin::admin(
        &port,
        &app("a"),
        &command,
        Duration::from_secs(600),
    ))
    .expect("admin");
    let runs = port.with(|s| s.run_requests.clone());
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].command_override,
        Some(("migration".to_string(), command))
    );
    assert_eq!(runs[0].task_definition, td_arn("swa-t-a-migration", 1));
    assert!(!port.calls().iter().any(|c| c.starts_with("Register")));
    // And the SDK request built from it has no environment overrides.
    let sdk_override = super::sdk_port::task_override(runs[0].command_override.as_ref());
    let containers = sdk_override
        .map(|o| o.container_overrides().to_vec())
        .unwrap_or_default();
    assert_eq!(containers.len(), 1);
    assert!(
        containers
            .iter()
            .all(|c| c.environment().is_empty() && c.environment_files().is_empty())
    );
    // A command outside the allow-list never reaches RunTask.
    let serve = vec!["serve".to_string()];
    assert!(
        block_on(admin::admin(
            &port,
            &app("a"),
            &serve,
            Duration::from_secs(60)
        ))
        .is_err()
    );
    assert_eq!(port.with(|s| s.run_requests.len()), 1);
}

#[test]
fn deploy_all_migrates_every_tenant() {
    let port = FakePort::with_tenants(&["a", "b", "c"]);
    let apps = vec![app("a"), app("b"), app("c")];
    block_on(deploy::deploy_all(&port, &apps, &options(2))).expect("deploy all");
    let clusters: Vec<String> =
        port.with(|s| s.run_requests.iter().map(|r| r.cluster.clone()).collect());
    assert_eq!(
        clusters,
        vec!["swa-t-a-cluster", "swa-t-b-cluster", "swa-t-c-cluster"]
    );
    for tenant in ["a", "b", "c"] {
        let cluster = format!("swa-t-{tenant}-cluster");
        let running = port.with(|s| s.services[&cluster].task_definition.clone());
        assert_eq!(running, td_arn(&format!("swa-t-{tenant}-web"), 2));
        assert_eq!(saved_records(&port, tenant).len(), 1);
    }
}

#[test]
fn migrate_all_tries_every_tenant_and_names_the_failures() {
    let port = FakePort::with_tenants(&["a", "b", "c"]);
    port.with(|s| s.exit_codes.insert("swa-t-b-cluster".into(), 3));
    let apps = vec![app("a"), app("b"), app("c")];
    let err = block_on(migrate::migrate_all(&port, &apps, Duration::from_secs(600)))
        .expect_err("tenant b fails");
    let text = format!("{err:#}");
    assert!(text.contains("tenant(s) b "), "{text}");
    let runs = port.with(|s| s.run_requests.clone());
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.command_override.is_none()));
    // The family's latest revision, not a new one.
    assert!(!port.calls().iter().any(|c| c.starts_with("Register")));
}

#[test]
fn dry_run_changes_nothing() {
    let mut port = FakePort::with_tenants(&["a"]);
    port.dry_run = true;
    block_on(deploy::deploy_tenant(&port, &app("a"), &options(2))).expect("dry run");
    port.with(|s| {
        assert_eq!(s.task_defs.len(), 2);
        assert!(s.parameters.is_empty());
        assert_eq!(
            s.services["swa-t-a-cluster"].task_definition,
            td_arn("swa-t-a-web", 1)
        );
    });
}
