//! The stylesheet and the one script, compiled into the binary.

use axum::http::header;
use axum::response::IntoResponse;

const APP_CSS: &str = include_str!("../static/app.css");
const CHAT_JS: &str = include_str!("../static/chat.js");
const LIVE_JS: &str = include_str!("../static/live.js");

/// Assets change only with the binary, so they may be cached for a day.
const CACHE: &str = "public, max-age=86400";

pub async fn app_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        APP_CSS,
    )
}

pub async fn chat_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        CHAT_JS,
    )
}

pub async fn live_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        LIVE_JS,
    )
}
