//! Validation of `reply_markup` the way the Bot API checks it.

use serde_json::Value;

use super::error::ApiFailure;

/// Fields of an inline button that make it do something; exactly one must be present.
const BUTTON_ACTIONS: &[&str] = &[
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
];

fn unparsable() -> ApiFailure {
    ApiFailure::bad_request("can't parse reply keyboard markup JSON object")
}

/// Checks a `reply_markup` object; returns it unchanged when valid.
pub(crate) fn validate(markup: Value) -> Result<Value, ApiFailure> {
    let object = markup.as_object().ok_or_else(unparsable)?;
    if let Some(rows) = object.get("inline_keyboard") {
        validate_inline(rows)?;
    } else if let Some(rows) = object.get("keyboard") {
        validate_rows(rows)?;
    } else if !object.contains_key("remove_keyboard") && !object.contains_key("force_reply") {
        return Err(unparsable());
    }
    Ok(markup)
}

fn validate_rows(rows: &Value) -> Result<(), ApiFailure> {
    let rows = rows.as_array().ok_or_else(unparsable)?;
    for row in rows {
        row.as_array().ok_or_else(unparsable)?;
    }
    Ok(())
}

fn validate_inline(rows: &Value) -> Result<(), ApiFailure> {
    validate_rows(rows)?;
    let buttons = rows
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten();
    for button in buttons {
        validate_button(button)?;
    }
    Ok(())
}

fn validate_button(button: &Value) -> Result<(), ApiFailure> {
    let object = button.as_object().ok_or_else(|| {
        ApiFailure::bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object",
        )
    })?;
    if object.get("text").and_then(Value::as_str).is_none() {
        return Err(ApiFailure::bad_request(
            "can't parse inline keyboard button: Field \"text\" must be of type String",
        ));
    }
    let actions = BUTTON_ACTIONS
        .iter()
        .filter(|key| object.contains_key(**key))
        .count();
    if actions == 0 {
        return Err(ApiFailure::bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
        ));
    }
    if let Some(data) = object.get("callback_data") {
        let len = data.as_str().map_or(0, str::len);
        if !(1..=64).contains(&len) {
            return Err(ApiFailure::bad_request("BUTTON_DATA_INVALID"));
        }
    }
    if let Some(url) = object.get("url") {
        let url = url.as_str().unwrap_or("");
        let valid = ["http://", "https://", "tg://"]
            .iter()
            .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len());
        if !valid {
            return Err(ApiFailure::bad_request("BUTTON_URL_INVALID"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn description(markup: Value) -> String {
        validate(markup).expect_err("invalid").description
    }

    #[test]
    fn valid_inline_keyboard() {
        let markup = json!({"inline_keyboard": [[{"text": "Ok", "callback_data": "ok"}]]});
        assert!(validate(markup).is_ok());
        assert!(validate(json!({"remove_keyboard": true})).is_ok());
    }

    #[test]
    fn invalid_buttons() {
        assert_eq!(
            description(json!({"inline_keyboard": [[{"text": "x"}]]})),
            "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        );
        let long = "x".repeat(65);
        assert_eq!(
            description(json!({"inline_keyboard": [[{"text": "x", "callback_data": long}]]})),
            "Bad Request: BUTTON_DATA_INVALID"
        );
        assert_eq!(
            description(json!({"inline_keyboard": [[{"text": "x", "url": "nope"}]]})),
            "Bad Request: BUTTON_URL_INVALID"
        );
        assert_eq!(
            description(json!([1])),
            "Bad Request: can't parse reply keyboard markup JSON object"
        );
    }
}
