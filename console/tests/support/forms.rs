//! Signing in through the HTML forms, as a browser would, from a chosen loopback address.

use std::net::IpAddr;

use super::{Harness, PASSWORD};

/// A client whose connections come from `address` (any 127.x.y.z works on Linux).
pub fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(address.parse::<IpAddr>().expect("address"))
        .build()
        .expect("client")
}

/// The value of hidden field `name` in a page.
pub fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

/// The `name=value` part of the first Set-Cookie header naming `name`.
pub fn cookie_pair(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|pair| pair.starts_with(&format!("{name}=")))
}

/// The sign-in page's double-submit cookie (`name=value`) and form token.
pub async fn login_form(http: &reqwest::Client, h: &Harness) -> (String, String) {
    let page = http.get(h.url("/login")).send().await.expect("login page");
    let cookie = cookie_pair(&page, "__Host-javari_login_csrf").expect("login csrf cookie");
    let html = page.text().await.expect("html");
    (cookie, hidden_value(&html, "csrf_token"))
}

/// Posts the sign-in form once with a form token got before.
pub async fn post_login(
    http: &reqwest::Client,
    h: &Harness,
    form: &(String, String),
    email: &str,
    password: &str,
) -> reqwest::Response {
    http.post(h.url("/login"))
        .header("cookie", &form.0)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", form.1.as_str()),
            ("next", "/chat"),
        ])
        .send()
        .await
        .expect("sign in")
}

/// Signs in with the password; returns the session cookie pair (or panics with the status).
pub async fn sign_in(http: &reqwest::Client, h: &Harness, email: &str) -> String {
    let form = login_form(http, h).await;
    let response = post_login(http, h, &form, email, PASSWORD).await;
    assert_eq!(response.status().as_u16(), 303, "{email} signed in");
    cookie_pair(&response, "__Host-javari_session").expect("session cookie")
}

/// A page's CSRF token, read from its forms.
pub async fn page_csrf(http: &reqwest::Client, h: &Harness, session: &str, path: &str) -> String {
    let html = http
        .get(h.url(path))
        .header("cookie", session)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    hidden_value(&html, "csrf_token")
}
