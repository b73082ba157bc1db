//! The chat service's refusals as HTTP answers.

use axum::http::StatusCode;
use javari_core::chat::{ChatError, FollowError};

use crate::error::ApiError;

pub fn chat_error(e: ChatError) -> ApiError {
    let status = match &e {
        ChatError::ConversationNotFound => return ApiError::not_found("conversation"),
        ChatError::UnknownProject(_) | ChatError::UnknownModel { .. } => StatusCode::BAD_REQUEST,
        ChatError::NoProviders(_) => StatusCode::SERVICE_UNAVAILABLE,
        ChatError::BudgetExceeded(_) => StatusCode::PAYMENT_REQUIRED,
        ChatError::TooManyInFlight { .. } => StatusCode::TOO_MANY_REQUESTS,
        ChatError::AllFailed(_) => StatusCode::BAD_GATEWAY,
        ChatError::Internal { context, detail } => return ApiError::internal(context, detail),
    };
    ApiError::new(status, e.to_string())
}

pub fn follow_error(e: FollowError) -> ApiError {
    match e {
        FollowError::NotFound => ApiError::not_found("stream"),
        FollowError::Db(e) => ApiError::from(e),
    }
}
