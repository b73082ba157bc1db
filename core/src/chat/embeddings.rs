//! Embeddings from an OpenAI or OpenAI-compatible provider (`POST {endpoint}/embeddings`).

use javari_crds::provider::ProviderApi;
use serde_json::{Value, json};

use super::client::{authenticate, send_error, status_error};
use super::error::{OpenError, display_endpoint};
use super::types::ProviderEntry;

/// Longest wait for an embeddings answer.
pub const EMBED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One vector per input, in input order.
#[tracing::instrument(skip_all, fields(provider = %format!("{}/{}", provider.namespace, provider.name), model, inputs = inputs.len()))]
pub async fn embed(
    http: &reqwest::Client,
    provider: &ProviderEntry,
    model: &str,
    inputs: &[String],
) -> Result<Vec<Vec<f32>>, OpenError> {
    let endpoint = display_endpoint(&provider.endpoint);
    if !matches!(
        provider.api,
        ProviderApi::Openai | ProviderApi::OpenaiCompatible
    ) {
        return Err(OpenError::Other {
            endpoint,
            detail: "embeddings need an OpenAI or OpenAI-compatible provider".into(),
        });
    }
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let url = format!("{}/embeddings", provider.endpoint.trim_end_matches('/'));
    // The client has a connect timeout only (chat streams run long); an embedding must not
    // hold a chat up longer than this.
    let request = http
        .post(url)
        .timeout(EMBED_TIMEOUT)
        .json(&json!({"model": model, "input": inputs}));
    let response = authenticate(request, provider)?
        .send()
        .await
        .map_err(|e| send_error(&e, &provider.endpoint))?;
    if !response.status().is_success() {
        return Err(status_error(response, provider).await);
    }
    let body: Value = response.json().await.map_err(|e| OpenError::Other {
        endpoint: endpoint.clone(),
        detail: format!(
            "invalid embeddings answer: {}",
            super::error::root_cause(&e)
        ),
    })?;
    parse(&body, inputs.len()).map_err(|detail| OpenError::Other { endpoint, detail })
}

/// The vectors of an embeddings answer, ordered by `index`.
fn parse(body: &Value, expected: usize) -> Result<Vec<Vec<f32>>, String> {
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or("embeddings answer has no data")?;
    let mut vectors: Vec<(u64, Vec<f32>)> = data
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let index = item
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(u64::try_from(i).unwrap_or(u64::MAX));
            let vector = item
                .get("embedding")
                .and_then(Value::as_array)
                .ok_or("embedding item without a vector")?
                .iter()
                .map(|x| {
                    x.as_f64()
                        .map(|x| x as f32)
                        .ok_or("non-numeric embedding value")
                })
                .collect::<Result<Vec<f32>, _>>()?;
            Ok((index, vector))
        })
        .collect::<Result<_, &str>>()?;
    if vectors.len() != expected {
        return Err(format!(
            "asked for {expected} embeddings, got {}",
            vectors.len()
        ));
    }
    vectors.sort_by_key(|(i, _)| *i);
    Ok(vectors.into_iter().map(|(_, v)| v).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_come_back_in_input_order() {
        let body = json!({"data": [
            {"index": 1, "embedding": [0.0, 1.0]},
            {"index": 0, "embedding": [1.0, 0.0]}
        ]});
        assert_eq!(parse(&body, 2), Ok(vec![vec![1.0, 0.0], vec![0.0, 1.0]]));
        assert!(parse(&body, 3).is_err());
        assert!(parse(&json!({"error": {}}), 1).is_err());
    }
}
