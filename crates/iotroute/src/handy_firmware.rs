//! `iotroute handy firmware push|activate|status` (SEC-10): the signed image of
//! `iotroute firmware sign` through the terminal's image transfer (class 18,
//! 0-0:44.0.0.255): initiate with the manifest's identifier, the blocks, verify; activate
//! only a verified image. The terminal checks the signature; we read the manifest only
//! to name the image.

use dlms::session::{Session, Target};
use dlms::{Data, Obis};
use nodes::app::image_push::SignedImage;
use serde_json::{json, Value};

use crate::handy_cmd::{get, FirmwareAction, HandyError};

const IMAGE_TRANSFER: Obis = Obis([0, 0, 44, 0, 0, 255]);

const fn image(index: i8) -> Target {
    Target {
        class: 18,
        obis: IMAGE_TRANSFER,
        index,
    }
}

/// Run one step.
pub(crate) async fn run(s: &mut Session, action: &FirmwareAction) -> Result<Value, HandyError> {
    match action {
        FirmwareAction::Push { file } => {
            let signed = std::fs::read(file)
                .map_err(|e| HandyError::Usage(format!("{}: {e}", file.display())))?;
            let (image, manifest) = SignedImage::terminal_image(signed)
                .map_err(|e| HandyError::Usage(format!("not a signed firmware image: {e}")))?;
            push(s, &image, manifest.version).await
        }
        FirmwareAction::Activate => {
            invoke(s, "image_activate", 4, Data::Integer(0)).await?;
            // The terminal installs the image and hands over to its launcher now: it
            // answers nothing more on this association.
            Ok(json!({"result": "success", "status": "activated"}))
        }
        FirmwareAction::Status => status(s).await,
    }
}

async fn invoke(s: &mut Session, what: &str, method: i8, p: Data) -> Result<(), HandyError> {
    let outcome = s.action_many(&[(image(method), Some(p))]).await?;
    match outcome.first() {
        Some(o) if o.code == 0 => Ok(()),
        Some(o) => Err(HandyError::Refused {
            what: what.to_owned(),
            code: o.code,
        }),
        None => Err(HandyError::Unexpected {
            what: what.to_owned(),
            answer: "no result".into(),
        }),
    }
}

async fn push(s: &mut Session, signed: &SignedImage, version: u32) -> Result<Value, HandyError> {
    let identifier = String::from_utf8_lossy(&signed.identifier).into_owned();
    let size = u32::try_from(signed.bytes.len())
        .map_err(|_| HandyError::Usage("image larger than 4 GiB".into()))?;
    let block_size = get(s, "image block size", image(2), None).await?;
    let block_size = block_size
        .as_i128()
        .and_then(|b| usize::try_from(b).ok())
        .filter(|b| *b > 0)
        .ok_or_else(|| HandyError::Unexpected {
            what: "image block size".into(),
            answer: format!("{block_size:?}"),
        })?;
    invoke(
        s,
        "image_transfer_initiate",
        1,
        Data::Structure(vec![
            Data::OctetString(signed.identifier.clone()),
            Data::DoubleLongUnsigned(size),
        ]),
    )
    .await?;
    let mut blocks = 0u32;
    for (n, chunk) in signed.bytes.chunks(block_size).enumerate() {
        let number = u32::try_from(n).unwrap_or(u32::MAX);
        invoke(
            s,
            "image_block_transfer",
            2,
            Data::Structure(vec![
                Data::DoubleLongUnsigned(number),
                Data::OctetString(chunk.to_vec()),
            ]),
        )
        .await?;
        blocks += 1;
    }
    tracing::info!(identifier, blocks, "image transferred, verifying");
    invoke(s, "image_verify", 3, Data::Integer(0)).await?;
    let mut out = status(s).await?;
    if let Value::Object(o) = &mut out {
        o.insert("identifier".into(), json!(identifier));
        o.insert("version".into(), json!(version));
        o.insert("blocks".into(), json!(blocks));
    }
    Ok(out)
}

/// The image transfer's status (attribute 6) and the image ready to activate (7).
async fn status(s: &mut Session) -> Result<Value, HandyError> {
    let code = get(s, "image transfer status", image(6), None).await?;
    let code = code.as_i128().unwrap_or(-1);
    let name = match code {
        0 => "idle",
        1 => "initiated",
        2 => "verification_initiated",
        3 => "verified",
        4 => "verification_failed",
        5 => "activation_initiated",
        6 => "activated",
        7 => "activation_failed",
        _ => "unknown",
    };
    let info = get(s, "image to activate", image(7), None).await?;
    let images: Vec<Value> = info
        .elements()
        .unwrap_or(&[])
        .iter()
        .map(|i| {
            let e = i.elements().unwrap_or(&[]);
            let identification = match e.get(1) {
                Some(Data::OctetString(b)) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            };
            json!({"size": e.first().and_then(Data::as_i128), "identification": identification})
        })
        .collect();
    Ok(json!({"status": name, "status_code": code, "image_to_activate": images}))
}
