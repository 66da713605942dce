//! Prospects (known emails that have not registered), chat messages and
//! email-unsubscribe records.

use sqlx::PgConnection;

use crate::domain::signing::random_alphanumeric;

/// A new prospect's details besides its email.
#[derive(Debug)]
pub struct NewProspect<'a> {
    pub email: &'a str,
    pub unsubscribe_string: &'a str,
    pub unsubscribe_token: &'a str,
    pub prospect_comment: Option<&'a str>,
    pub swa_comment: &'a str,
}

/// The prospect with this email (case-insensitive), if any.
pub async fn find_by_email(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM user_prospect WHERE lower(email) = lower($1) ORDER BY id LIMIT 1",
    )
    .bind(email)
    .fetch_optional(conn)
    .await
}

/// Inserts a prospect, not opted in to marketing. Returns `None` when a
/// concurrent request created one with the same email first.
pub async fn insert(
    conn: &mut PgConnection,
    new: &NewProspect<'_>,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO user_prospect (email, email_unsubscribed, email_unsubscribe_string, \
             email_unsubscribe_string_signed, prospect_comment, swa_comment, pr_cd, \
             created_date_time) \
         VALUES ($1, true, $2, $3, $4, $5, $6, now()) \
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(new.email)
    .bind(new.unsubscribe_string)
    .bind(new.unsubscribe_token)
    .bind(new.prospect_comment)
    .bind(new.swa_comment)
    .bind(random_alphanumeric(20))
    .fetch_optional(conn)
    .await
}

/// Registration with a prospect's email converts it: the prospect is marked
/// converted and unsubscribed, and its orders and chat messages move to the
/// new member.
pub async fn convert_to_member(
    conn: &mut PgConnection,
    email: &str,
    user_id: i32,
    member_id: i32,
) -> Result<(), sqlx::Error> {
    let Some(prospect_id) = find_by_email(&mut *conn, email).await? else {
        return Ok(());
    };
    let note = format!("Prospect converted by creating user id {user_id}.");
    sqlx::query(
        "UPDATE user_prospect SET converted_date_time = COALESCE(converted_date_time, now()), \
             email_unsubscribed = true, \
             swa_comment = left(CASE WHEN coalesce(swa_comment, '') = '' THEN $2 \
                                     ELSE swa_comment || '. ' || $2 END, 5000) \
         WHERE id = $1",
    )
    .bind(prospect_id)
    .bind(&note)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE order_order SET member_id = $1 WHERE prospect_id = $2")
        .bind(member_id)
        .bind(prospect_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE user_chat_message SET member_id = $1 \
         WHERE lower(email_address) = lower($2) AND member_id IS NULL",
    )
    .bind(member_id)
    .bind(email)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Who a chat message is linked to.
#[derive(Debug, Clone, Copy)]
pub enum ChatAuthor {
    Member(i32),
    Prospect(i32),
}

pub async fn insert_chat_message(
    conn: &mut PgConnection,
    author: ChatAuthor,
    name: &str,
    email: &str,
    message: &str,
) -> Result<(), sqlx::Error> {
    let (member_id, prospect_id) = match author {
        ChatAuthor::Member(id) => (Some(id), None),
        ChatAuthor::Prospect(id) => (None, Some(id)),
    };
    sqlx::query(
        "INSERT INTO user_chat_message (member_id, prospect_id, name, email_address, message, \
             created_date_time) VALUES ($1, $2, $3, $4, $5, now())",
    )
    .bind(member_id)
    .bind(prospect_id)
    .bind(name)
    .bind(email)
    .bind(message)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whose unsubscribe token it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscriber {
    Member,
    Prospect,
}

/// The row an unsubscribe token names.
#[derive(Debug, Clone)]
pub struct UnsubscribeTarget {
    pub id: i32,
    pub unsubscribe_string: Option<String>,
    pub email_unsubscribed: bool,
    pub email: Option<String>,
}

/// The member or prospect whose current token is `token`; the row is locked
/// for the caller's transaction.
pub async fn find_by_unsubscribe_token(
    conn: &mut PgConnection,
    who: Subscriber,
    token: &str,
) -> Result<Option<UnsubscribeTarget>, sqlx::Error> {
    let sql = match who {
        Subscriber::Member => {
            "SELECT m.id, m.email_unsubscribe_string, m.email_unsubscribed, u.email \
             FROM user_member m JOIN auth_user u ON u.id = m.user_id \
             WHERE m.email_unsubscribe_string_signed = $1 FOR UPDATE OF m"
        }
        Subscriber::Prospect => {
            "SELECT id, email_unsubscribe_string, email_unsubscribed, email \
             FROM user_prospect WHERE email_unsubscribe_string_signed = $1 FOR UPDATE"
        }
    };
    let row: Option<(i32, Option<String>, bool, Option<String>)> =
        sqlx::query_as(sql).bind(token).fetch_optional(conn).await?;
    Ok(row.map(
        |(id, unsubscribe_string, email_unsubscribed, email)| UnsubscribeTarget {
            id,
            unsubscribe_string,
            email_unsubscribed,
            email,
        },
    ))
}

/// Sets a new unsubscribe string and token on a member or prospect. The
/// strings are 20 CSPRNG characters (62^20), so the unique constraint is a
/// guard, not a loop.
pub async fn rotate_unsubscribe(
    conn: &mut PgConnection,
    who: Subscriber,
    id: i32,
    sign: impl Fn(&str) -> String,
) -> Result<String, sqlx::Error> {
    let sql = match who {
        Subscriber::Member => {
            "UPDATE user_member SET email_unsubscribe_string = $1, \
                 email_unsubscribe_string_signed = $2 WHERE id = $3"
        }
        Subscriber::Prospect => {
            "UPDATE user_prospect SET email_unsubscribe_string = $1, \
                 email_unsubscribe_string_signed = $2 WHERE id = $3"
        }
    };
    let value = random_alphanumeric(20);
    let token = sign(&value);
    sqlx::query(sql)
        .bind(&value)
        .bind(&token)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(token)
}

/// Marks a member (also off the newsletter) or prospect unsubscribed.
pub async fn mark_unsubscribed(
    conn: &mut PgConnection,
    who: Subscriber,
    id: i32,
) -> Result<(), sqlx::Error> {
    let sql = match who {
        Subscriber::Member => {
            "UPDATE user_member SET email_unsubscribed = true, newsletter_subscriber = false \
             WHERE id = $1"
        }
        Subscriber::Prospect => "UPDATE user_prospect SET email_unsubscribed = true WHERE id = $1",
    };
    sqlx::query(sql).bind(id).execute(conn).await?;
    Ok(())
}

/// Why someone unsubscribed.
#[derive(Debug, Clone, Default)]
pub struct UnsubscribeReasons {
    pub no_longer_want_to_receive: bool,
    pub never_signed_up: bool,
    pub inappropriate: bool,
    pub spam: bool,
    pub other: String,
}

impl UnsubscribeReasons {
    pub fn is_empty(&self) -> bool {
        !(self.no_longer_want_to_receive
            || self.never_signed_up
            || self.inappropriate
            || self.spam
            || !self.other.is_empty())
    }
}

pub async fn insert_reasons(
    conn: &mut PgConnection,
    who: Subscriber,
    id: i32,
    reasons: &UnsubscribeReasons,
) -> Result<(), sqlx::Error> {
    let (member_id, prospect_id) = match who {
        Subscriber::Member => (Some(id), None),
        Subscriber::Prospect => (None, Some(id)),
    };
    sqlx::query(
        "INSERT INTO user_emailunsubscribereasons (member_id, prospect_id, \
             no_longer_want_to_receive, never_signed_up, inappropriate, spam, other, \
             created_date_time) VALUES ($1, $2, $3, $4, $5, $6, $7, now())",
    )
    .bind(member_id)
    .bind(prospect_id)
    .bind(reasons.no_longer_want_to_receive)
    .bind(reasons.never_signed_up)
    .bind(reasons.inappropriate)
    .bind(reasons.spam)
    .bind(&reasons.other)
    .execute(conn)
    .await?;
    Ok(())
}
