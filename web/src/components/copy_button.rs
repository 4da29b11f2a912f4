//! A button that copies a text (a command line) to the clipboard, and says whether it did.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use yew::platform::spawn_local;
use yew::prelude::*;

/// Props of [`CopyButton`].
#[derive(Properties, PartialEq)]
pub struct CopyButtonProps {
    /// What to copy.
    pub text: AttrValue,
    /// What is copied, for screen readers ("the bundle command").
    pub what: AttrValue,
    #[prop_or_default]
    pub testid: Option<AttrValue>,
}

#[derive(Clone, Copy, PartialEq)]
enum Copied {
    Not,
    Done,
    Failed,
}

/// "Copy", then "Copied" (or a hint to copy by hand when the browser refuses).
#[component]
pub fn CopyButton(props: &CopyButtonProps) -> Html {
    let copied = use_state(|| Copied::Not);
    {
        // Another text has not been copied yet.
        let copied = copied.clone();
        use_effect_with(props.text.clone(), move |_| copied.set(Copied::Not));
    }
    let onclick = {
        let copied = copied.clone();
        let text = props.text.clone();
        Callback::from(move |_: MouseEvent| {
            let copied = copied.clone();
            let text = text.clone();
            spawn_local(async move {
                let ok = match write_clipboard(&text) {
                    Some(promise) => JsFuture::from(promise).await.is_ok(),
                    None => false,
                };
                copied.set(if ok { Copied::Done } else { Copied::Failed });
            });
        })
    };
    let label = match *copied {
        Copied::Not => "Copy",
        Copied::Done => "Copied",
        Copied::Failed => "Select it to copy",
    };
    html! {
        <button type="button" class={classes!("button", "button-small", "copy-button")}
            aria-label={format!("{label}: {}", props.what)} {onclick}
            data-testid={props.testid.clone()}>
            { label }
        </button>
    }
}

/// `navigator.clipboard.writeText(text)`, through `Reflect` (the clipboard API is not among
/// the crate's web-sys features); `None` where there is no clipboard (an insecure origin).
fn write_clipboard(text: &str) -> Option<Promise> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let clipboard = Reflect::get(&navigator, &"clipboard".into()).ok()?;
    if clipboard.is_undefined() || clipboard.is_null() {
        return None;
    }
    let write: Function = Reflect::get(&clipboard, &"writeText".into())
        .ok()?
        .dyn_into()
        .ok()?;
    write
        .call1(&clipboard, &JsValue::from_str(text))
        .ok()?
        .dyn_into()
        .ok()
}
