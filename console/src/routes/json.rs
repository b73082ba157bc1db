//! A JSON body extractor whose rejections are [`ApiError`]s that say what was wrong.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(rejection_error(rejection)),
        }
    }
}

fn rejection_error(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "send the body as JSON with `Content-Type: application/json`".to_owned()
        }
        JsonRejection::JsonSyntaxError(e) => format!("invalid JSON: {}", e.body_text()),
        JsonRejection::JsonDataError(e) => format!("invalid request: {}", e.body_text()),
        other => {
            if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                "request body too large".to_owned()
            } else {
                other.body_text()
            }
        }
    };
    ApiError::new(status, message)
}
