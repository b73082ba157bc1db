//! Errors of the knowledge base. Each message says what was wrong and what to do instead.

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("unsupported file type {}: upload txt, md, csv, json or pdf", extension_of(.filename))]
    UnsupportedType { filename: String },
    #[error("the file is not valid UTF-8 text: save it as UTF-8 and upload it again")]
    NotUtf8,
    #[error("the file is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the file is not valid CSV: {0}")]
    InvalidCsv(String),
    #[error("cannot read text from the PDF: {0}")]
    InvalidPdf(String),
    #[error("text extraction failed: {0}")]
    Extraction(String),
    #[error("the file has no text to index")]
    Empty,
    #[error("the file is over the upload limit of {limit} bytes: split it or trim it")]
    TooLarge { limit: usize },
    #[error(
        "the file's text is over {limit} bytes, more than its size allows: split the file, or \
         for CSV and JSON shorten long headers and keys"
    )]
    TextTooLarge { limit: usize },
    #[error(
        "the PDF's compressed streams expand to more than {budget} bytes: it is not indexed \
         (export the text, or split the PDF)"
    )]
    PdfTooLarge { budget: usize },
    #[error("embedding has {got} dimensions; the knowledge base stores {expected}")]
    EmbeddingDimensions { expected: usize, got: usize },
    #[error("embedding holds NaN or infinity: check the embedding provider's response")]
    NonFiniteEmbedding,
    #[error("{embeddings} embeddings given for a document of {chunks} chunks")]
    EmbeddingCount { chunks: usize, embeddings: usize },
    #[error("document not found")]
    NotFound,
    #[error("database error in the knowledge base: {0}")]
    Db(#[from] sqlx::Error),
}

/// ".exe" for "setup.EXE", "(none)" without an extension.
fn extension_of(filename: &str) -> String {
    match filename.rsplit_once('.') {
        Some((_, ext)) if !ext.is_empty() => format!(".{}", ext.to_ascii_lowercase()),
        _ => format!("(no extension in {filename:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::KnowledgeError;

    #[test]
    fn unsupported_type_names_the_extension() {
        let e = KnowledgeError::UnsupportedType {
            filename: "setup.EXE".into(),
        };
        assert_eq!(
            e.to_string(),
            "unsupported file type .exe: upload txt, md, csv, json or pdf"
        );
    }
}
