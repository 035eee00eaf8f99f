//! Tolerance for S3-compatible stores that answer slightly off the AWS wire format.
//!
//! `rclone serve s3` (gofakes3) answers CreateMultipartUpload with an
//! `<InitiateMultipartUpload>` root element instead of `<InitiateMultipartUploadResult>`; the
//! SDK's strict parser rejects that, so every multipart upload would fail. This interceptor
//! renames the root of that one response (a few hundred bytes) before it is parsed.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::{Body, Frame};

const WRONG_ROOT: &str = "InitiateMultipartUpload";
const RIGHT_ROOT: &str = "InitiateMultipartUploadResult";

#[derive(Debug)]
pub(crate) struct InitiateMultipartUploadRoot;

impl Intercept for InitiateMultipartUploadRoot {
    fn name(&self) -> &'static str {
        "InitiateMultipartUploadRoot"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let create = cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == "CreateMultipartUpload");
        if !create || !context.response().status().is_success() {
            return Ok(());
        }
        let inner = context.response_mut().take_body();
        *context.response_mut().body_mut() = SdkBody::from_body_1_x(RenameRoot {
            inner,
            buffer: Vec::new(),
            done: false,
        });
        Ok(())
    }
}

/// Reads the whole (small) response body, then yields it with the root element renamed.
struct RenameRoot {
    inner: SdkBody,
    buffer: Vec<u8>,
    done: bool,
}

impl Body for RenameRoot {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => {
                    this.done = true;
                    let body = std::mem::take(&mut this.buffer);
                    let body = rename_root(&body).unwrap_or(body);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(body)))));
                }
            }
        }
    }
}

/// The document with an `<InitiateMultipartUpload>` root renamed; `None` when it has none.
fn rename_root(xml: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(xml).ok()?;
    let open = format!("<{WRONG_ROOT}");
    let at = text.find(&open)?;
    let next = text[at + open.len()..].chars().next()?;
    if !(next == '>' || next.is_whitespace()) {
        return None;
    }
    let text = text.replacen(&open, &format!("<{RIGHT_ROOT}"), 1);
    let text = text.replacen(&format!("</{WRONG_ROOT}>"), &format!("</{RIGHT_ROOT}>"), 1);
    Some(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_only_the_wrong_root() {
        let wrong = br#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId></InitiateMultipartUpload>"#;
        let fixed = String::from_utf8(rename_root(wrong).unwrap()).unwrap();
        assert!(fixed.contains("<InitiateMultipartUploadResult xmlns="));
        assert!(fixed.ends_with("</InitiateMultipartUploadResult>"));
        assert!(fixed.contains("<UploadId>u</UploadId>"));

        let right = b"<InitiateMultipartUploadResult><UploadId>u</UploadId></InitiateMultipartUploadResult>";
        assert_eq!(rename_root(right), None);
    }
}
