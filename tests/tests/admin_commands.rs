//! `startupwebapp create-superuser`: the library function the subcommand
//! calls, on a real database; the account it makes can log in over HTTP.

use serde_json::Value;
use sqlx::PgPool;
use startupwebapp::admin::{AdminError, SuperuserOutcome, create_superuser};
use startupwebapp_tests::spawn_app;

const PASSWORD: &str = "Generated-Secret-0123456789";

#[derive(sqlx::FromRow)]
struct Row {
    email: String,
    password: String,
    is_superuser: bool,
    is_staff: bool,
    is_active: bool,
}

async fn row(pool: &PgPool, username: &str) -> Row {
    sqlx::query_as(
        "SELECT email, password, is_superuser, is_staff, is_active FROM auth_user WHERE username = $1",
    )
    .bind(username)
    .fetch_one(pool)
    .await
    .expect("superuser row")
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn creates_then_updates_the_same_account(pool: PgPool) {
    let first = create_superuser(&pool, "site-admin", "ops@example.com", Some(PASSWORD))
        .await
        .expect("created");
    assert_eq!(first, SuperuserOutcome::Created);
    let created = row(&pool, "site-admin").await;
    assert!(created.is_superuser && created.is_staff && created.is_active);
    assert!(
        created.password.starts_with("argon2$argon2id$"),
        "stored as a Django argon2 hash"
    );
    assert!(!created.password.contains(PASSWORD));

    // Demoted and deactivated by hand, then the command is run again with a
    // rotated secret: one row, rights restored, new hash, new email.
    sqlx::query("UPDATE auth_user SET is_superuser = false, is_active = false WHERE username = 'site-admin'")
        .execute(&pool)
        .await
        .expect("demote");
    let second = create_superuser(
        &pool,
        "site-admin",
        "root@example.com",
        Some("Rotated-Secret-9876543210"),
    )
    .await
    .expect("updated");
    assert_eq!(second, SuperuserOutcome::Updated);
    let updated = row(&pool, "site-admin").await;
    assert!(updated.is_superuser && updated.is_active);
    assert_eq!(updated.email, "root@example.com");
    assert_ne!(updated.password, created.password);
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM auth_user WHERE username = 'site-admin'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(count, 1);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn refuses_missing_short_or_invalid_input_without_writing(pool: PgPool) {
    let cases: [(&str, &str, Option<&str>); 4] = [
        ("site-admin", "ops@example.com", None),
        ("site-admin", "ops@example.com", Some("Short-1!")),
        ("no spaces allowed", "ops@example.com", Some(PASSWORD)),
        ("site-admin", "not-an-email", Some(PASSWORD)),
    ];
    for (username, email, password) in cases {
        let result = create_superuser(&pool, username, email, password).await;
        assert!(
            matches!(
                result,
                Err(AdminError::PasswordMissing
                    | AdminError::PasswordTooShort
                    | AdminError::InvalidArgument { .. })
            ),
            "{username} / {email}: {result:?}"
        );
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_user")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(users, 0);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn the_superuser_can_log_in(pool: PgPool) {
    create_superuser(&pool, "site-admin", "ops@example.com", Some(PASSWORD))
        .await
        .expect("created");
    let app = spawn_app(pool).await;
    let body: Value = app
        .post_form(
            "/user/login",
            &[
                ("username", "site-admin"),
                ("password", PASSWORD),
                ("remember_me", "false"),
            ],
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["login"], "true", "{body}");
}
