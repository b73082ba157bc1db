//! The second factor: TOTP enrolment with recovery codes, sign-in with a code computed from
//! the shared secret (RFC 6238), codes and recovery codes working once, the secret sealed in
//! the database and never shown after enrolment, and admins sent to enrol when required.

mod support;

use javari_core::totp;
use sqlx::PgPool;
use support::forms::{client_from, cookie_pair, hidden_value, login_form, post_login, sign_in};
use support::{Harness, PASSWORD, test_settings};

fn secret_of(html: &str) -> String {
    let marker = "<code class=\"totp-secret\">";
    let start = html
        .find(marker)
        .expect("the secret is shown during enrolment")
        + marker.len();
    html[start..].split('<').next().expect("secret").to_owned()
}

fn recovery_codes(html: &str) -> Vec<String> {
    let list = html
        .split("<ul class=\"recovery-codes\">")
        .nth(1)
        .expect("recovery codes")
        .split("</ul>")
        .next()
        .expect("list");
    list.split("<code>")
        .skip(1)
        .map(|s| s.split('<').next().expect("code").to_owned())
        .collect()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Enrols the signed-in `session`; returns the secret and the recovery codes.
async fn enrol(http: &reqwest::Client, h: &Harness, session: &str) -> (Vec<u8>, Vec<String>) {
    let page = http
        .get(h.url("/account/mfa"))
        .header("cookie", session)
        .send()
        .await
        .expect("enrolment page");
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.expect("html");
    let secret_b32 = secret_of(&html);
    assert!(
        html.contains(&format!("secret={secret_b32}")),
        "otpauth URI"
    );
    let secret = totp::base32_decode(&secret_b32).expect("base32");
    assert_eq!(secret.len(), totp::SECRET_BYTES);
    let csrf = hidden_value(&html, "csrf_token");
    let wrong = http
        .post(h.url("/account/mfa"))
        .header("cookie", session)
        .form(&[("code", "000000"), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("confirm");
    if totp::verify(&secret, "000000", now(), None).is_none() {
        assert_eq!(wrong.status().as_u16(), 400, "a wrong first code");
    }
    let code = totp::code_at(&secret, now(), 6);
    let confirmed = http
        .post(h.url("/account/mfa"))
        .header("cookie", session)
        .form(&[("code", code.as_str()), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("confirm");
    assert_eq!(confirmed.status().as_u16(), 200);
    let html = confirmed.text().await.expect("html");
    let codes = recovery_codes(&html);
    assert_eq!(codes.len(), 10, "{html}");
    assert!(
        !html.contains(&secret_b32),
        "the secret is not shown once enrolled"
    );
    (secret, codes)
}

/// Posts the password, expects the second-factor step; returns its cookie.
async fn password_step(http: &reqwest::Client, h: &Harness, email: &str) -> String {
    let form = login_form(http, h).await;
    let response = post_login(http, h, &form, email, PASSWORD).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/login/mfa");
    assert!(
        cookie_pair(&response, "__Host-javari_session").is_none(),
        "no session before the second factor"
    );
    cookie_pair(&response, "__Host-javari_mfa").expect("second-factor cookie")
}

async fn code_step(
    http: &reqwest::Client,
    h: &Harness,
    mfa_cookie: &str,
    code: &str,
) -> reqwest::Response {
    let page = http
        .get(h.url("/login/mfa"))
        .header("cookie", mfa_cookie)
        .send()
        .await
        .expect("code page");
    assert_eq!(page.status().as_u16(), 200);
    let csrf_cookie = cookie_pair(&page, "__Host-javari_login_csrf").expect("csrf cookie");
    let csrf = hidden_value(&page.text().await.expect("html"), "csrf_token");
    http.post(h.url("/login/mfa"))
        .header("cookie", format!("{mfa_cookie}; {csrf_cookie}"))
        .form(&[("code", code), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("code")
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn a_user_enrols_totp_and_signs_in_with_a_code_then_a_recovery_code(pool: PgPool) {
    let h = Harness::start(pool).await;
    let http = client_from("127.0.0.20");
    let email = "operator@example.test";
    let session = sign_in(&http, &h, email).await;
    let (secret, codes) = enrol(&http, &h, &session).await;

    let again = http
        .get(h.url("/account/mfa"))
        .header("cookie", &session)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(again.contains("Recovery codes left: 10"), "{again}");
    assert!(!again.contains("totp-secret"), "never shown again");
    let sealed: Vec<u8> = sqlx::query_scalar(
        "SELECT secret_ciphertext FROM javari_user_totp t JOIN javari_users u ON u.id = t.user_id WHERE u.email = $1",
    )
    .bind(email)
    .fetch_one(&h.pool)
    .await
    .expect("stored");
    assert!(
        !sealed.windows(secret.len()).any(|w| w == secret.as_slice()),
        "the secret is stored sealed"
    );
    let stored_codes: i64 = h
        .scalar_i64(&format!(
            "SELECT count(*) FROM javari_user_recovery_codes WHERE code_hash IN ('{}')",
            codes.join("','")
        ))
        .await;
    assert_eq!(stored_codes, 0, "recovery codes are stored hashed");

    // The password alone no longer signs in.
    let mfa = password_step(&http, &h, email).await;
    let wrong = code_step(&http, &h, &mfa, "123456").await;
    if totp::verify(&secret, "123456", now(), None).is_none() {
        assert_eq!(wrong.status().as_u16(), 401);
    }
    // The current step's code confirmed the enrolment, so it is spent: use the next one
    // (accepted within the one-step drift window).
    let next_code = totp::code_at(&secret, now() + totp::STEP_SECONDS, 6);
    let signed_in = code_step(&http, &h, &mfa, &next_code).await;
    assert_eq!(signed_in.status().as_u16(), 303);
    assert_eq!(signed_in.headers()["location"], "/chat");
    let session = cookie_pair(&signed_in, "__Host-javari_session").expect("session");
    let me = http
        .get(h.url("/api/me"))
        .header("cookie", &session)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status().as_u16(), 200);

    // A code works once.
    let mfa = password_step(&http, &h, email).await;
    let replay = code_step(&http, &h, &mfa, &next_code).await;
    assert_eq!(replay.status().as_u16(), 401, "a replayed code");
    // A recovery code works once.
    let recovered = code_step(&http, &h, &mfa, &codes[3].to_uppercase()).await;
    assert_eq!(recovered.status().as_u16(), 303, "a recovery code");
    let mfa = password_step(&http, &h, email).await;
    let spent = code_step(&http, &h, &mfa, &codes[3]).await;
    assert_eq!(spent.status().as_u16(), 401, "a spent recovery code");
    // Five wrong codes end the pending sign-in.
    for _ in 0..4 {
        let r = code_step(&http, &h, &mfa, "not-a-code").await;
        assert_eq!(r.status().as_u16(), 401);
    }
    let gone = code_step(&http, &h, &mfa, &codes[4]).await;
    let html = gone.text().await.expect("html");
    assert!(html.contains("sign in again"), "{html}");
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn admins_without_a_second_factor_are_sent_to_enrol_when_required(pool: PgPool) {
    let mut settings = test_settings();
    settings.auth.require_admin_mfa = true;
    let h = Harness::with_settings(pool, settings).await;
    let http = client_from("127.0.0.21");
    let session = sign_in(&http, &h, "admin@example.test").await;
    let chat = http
        .get(h.url("/chat"))
        .header("cookie", &session)
        .send()
        .await
        .expect("chat");
    assert_eq!(chat.status().as_u16(), 303);
    assert_eq!(chat.headers()["location"], "/account/mfa");
    let api = http
        .get(h.url("/api/me"))
        .header("cookie", &session)
        .send()
        .await
        .expect("me");
    assert_eq!(api.status().as_u16(), 403);
    // Other roles are not asked.
    let operator = sign_in(&http, &h, "operator@example.test").await;
    let page = http
        .get(h.url("/chat"))
        .header("cookie", &operator)
        .send()
        .await
        .expect("chat");
    assert_eq!(page.status().as_u16(), 200);

    enrol(&http, &h, &session).await;
    let chat = http
        .get(h.url("/chat"))
        .header("cookie", &session)
        .send()
        .await
        .expect("chat");
    assert_eq!(chat.status().as_u16(), 200, "enrolled: the console opens");
}
