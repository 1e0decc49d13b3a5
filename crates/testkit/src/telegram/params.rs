//! Bot API request parameters: JSON body, form body or query string, with Telegram's lenient
//! typing (numbers may arrive as strings, objects as JSON-encoded strings).

use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

use super::error::ApiFailure;

/// Parameters of one call.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(pub Map<String, Value>);

impl Params {
    /// Collects parameters from the query string and the body.
    pub fn parse(
        headers: &HeaderMap,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Self, ApiFailure> {
        let mut params = Map::new();
        if let Some(query) = query {
            params.extend(form_pairs(query.as_bytes()));
        }
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(params));
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            params.extend(form_pairs(body));
            return Ok(Self(params));
        }
        if content_type.starts_with("multipart/form-data") {
            let fields = multipart_fields(content_type, body)
                .ok_or_else(|| ApiFailure::bad_request("can't parse multipart/form-data"))?;
            params.extend(fields);
            return Ok(Self(params));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => params.extend(map),
            Ok(_) | Err(_) => {
                return Err(ApiFailure::bad_request("can't parse JSON object"));
            }
        }
        Ok(Self(params))
    }

    /// The raw parameters as a JSON object.
    pub fn to_json(&self) -> Value {
        Value::Object(self.0.clone())
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|value| !value.is_null())
    }

    /// An integer parameter; numeric strings are accepted.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Whether the parameter is present at all.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A string parameter; numbers and booleans are stringified.
    pub fn string(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A boolean parameter (`true`, `"true"`, `1`); absent means `false`.
    pub fn flag(&self, key: &str) -> bool {
        match self.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true" || s == "1",
            Some(Value::Number(n)) => n.as_i64() == Some(1),
            _ => false,
        }
    }

    /// An object or array parameter, possibly JSON-encoded in a string.
    pub fn json(&self, key: &str) -> Result<Option<Value>, ()> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| ()),
            Some(value) => Ok(Some(value.clone())),
        }
    }

    /// A list of strings (e.g. `allowed_updates`).
    pub fn string_list(&self, key: &str) -> Result<Option<Vec<String>>, ApiFailure> {
        let invalid = || ApiFailure::bad_request(format!("can't parse {key} JSON array"));
        let Some(value) = self.json(key).map_err(|()| invalid())? else {
            return Ok(None);
        };
        let items = value.as_array().ok_or_else(invalid)?;
        items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(invalid))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The `chat_id` parameter; a `@username` or garbage resolves to no chat, as in Telegram.
    pub fn chat_id(&self) -> Result<i64, ApiFailure> {
        if !self.has("chat_id") {
            return Err(ApiFailure::bad_request("chat_id is empty"));
        }
        self.int("chat_id")
            .ok_or_else(|| ApiFailure::bad_request("chat not found"))
    }
}

fn form_pairs(raw: &[u8]) -> Map<String, Value> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(raw)
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect()
}

/// Text fields of a `multipart/form-data` body (teloxide sends `setWebhook` this way); file parts
/// are kept as their file name only.
fn multipart_fields(content_type: &str, body: &[u8]) -> Option<Map<String, Value>> {
    let boundary = content_type
        .split(';')
        .filter_map(|part| part.trim().strip_prefix("boundary="))
        .next()?
        .trim_matches('"');
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    let mut fields = Map::new();
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let (head, value) = part.split_once("\r\n\r\n")?;
        let name = disposition_param(head, "name")?;
        let value = match disposition_param(head, "filename") {
            Some(file) => file,
            None => value.strip_suffix("\r\n").unwrap_or(value).to_owned(),
        };
        fields.insert(name, Value::String(value));
    }
    Some(fields)
}

/// `name="…"` of a part's `Content-Disposition` header.
fn disposition_param(head: &str, key: &str) -> Option<String> {
    let disposition = head
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with("content-disposition"))?;
    disposition.split(';').find_map(|item| {
        let (k, v) = item.trim().split_once('=')?;
        (k == key).then(|| v.trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_body_and_query_merge() {
        let params = Params::parse(&HeaderMap::new(), Some("offset=5"), br#"{"chat_id":"42"}"#)
            .expect("valid");
        assert_eq!(params.int("offset"), Some(5));
        assert_eq!(params.chat_id(), Ok(42));
    }

    #[test]
    fn empty_body_is_no_params() {
        let params = Params::parse(&HeaderMap::new(), None, b"").expect("valid");
        assert!(params.0.is_empty());
        assert_eq!(
            params.chat_id().map_err(|e| e.description),
            Err("Bad Request: chat_id is empty".to_owned())
        );
    }

    #[test]
    fn encoded_json_parameter() {
        let mut map = Map::new();
        map.insert("allowed_updates".into(), json!("[\"message\"]"));
        let params = Params(map);
        assert_eq!(
            params.string_list("allowed_updates").expect("valid"),
            Some(vec!["message".to_owned()])
        );
    }

    #[test]
    fn multipart_text_fields() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"url\"\r\n\r\nhttp://a.b/x\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"max_connections\"\r\n\r\n5\r\n--XyZ--\r\n";
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            "multipart/form-data; boundary=XyZ"
                .parse()
                .expect("valid header"),
        );
        let params = Params::parse(&headers, None, body.as_bytes()).expect("valid");
        assert_eq!(params.string("url").as_deref(), Some("http://a.b/x"));
        assert_eq!(params.int("max_connections"), Some(5));
    }

    #[test]
    fn username_chat_is_not_found() {
        let mut map = Map::new();
        map.insert("chat_id".into(), json!("@somebody"));
        let failure = Params(map).chat_id().expect_err("not numeric");
        assert_eq!(failure.description, "Bad Request: chat not found");
    }
}
