//! Attributes and methods named as people write them: `[CLASS/]OBIS[:N]`.

use chrono::Utc;

use crate::client::{AttributeRef, MethodRef};
use crate::cosem::{Association, IotRouteModel, ModelConfig};
use crate::{Data, Obis};

/// An attribute or method: class id, logical name and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// The interface class.
    pub class: u16,
    /// The logical name.
    pub obis: Obis,
    /// The attribute or method number.
    pub index: i8,
}

/// A target that does not parse: the text and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}`: {why}")]
pub struct TargetError {
    /// What was given.
    pub text: String,
    /// Why it is not a target.
    pub why: String,
}

impl Target {
    /// `CLASS/OBIS:INDEX`.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{}/{}:{}", self.class, self.obis, self.index)
    }

    /// The same object's attribute or method `index`.
    #[must_use]
    pub const fn with_index(self, index: i8) -> Self {
        Self { index, ..self }
    }

    /// The client's reference to this attribute, with optional selective access.
    #[must_use]
    pub fn attribute<'a>(&self, access: Option<(u8, &'a Data)>) -> AttributeRef<'a> {
        AttributeRef {
            class_id: self.class,
            obis: self.obis,
            attribute: self.index,
            access,
        }
    }

    /// The client's reference to this method.
    #[must_use]
    pub const fn method(&self) -> MethodRef {
        MethodRef {
            class_id: self.class,
            obis: self.obis,
            method: self.index,
        }
    }

    /// `[CLASS/]OBIS[:N]`; `N` required when `default_index` is `None`. Without
    /// `CLASS/` the class id is the one the IoT-route object model lists for the object.
    ///
    /// # Errors
    /// A malformed class, logical name or index, a missing method number, or an object
    /// outside the model without its class.
    pub fn parse(text: &str, default_index: Option<i8>) -> Result<Self, TargetError> {
        let bad = |why: String| TargetError {
            text: text.to_owned(),
            why,
        };
        let (class, rest) = match text.split_once('/') {
            Some((c, r)) => (
                Some(
                    c.parse::<u16>()
                        .map_err(|_| bad(format!("class id `{c}` is not a number")))?,
                ),
                r,
            ),
            None => (None, text),
        };
        let split = rest.rsplit_once(':').filter(|(l, r)| {
            !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) && l.contains(':')
        });
        let (obis_text, index) = match split {
            Some((l, r)) => (
                l,
                Some(
                    r.parse::<i8>()
                        .ok()
                        .filter(|i| *i > 0)
                        .ok_or_else(|| bad(format!("index `{r}` is not 1..127")))?,
                ),
            ),
            None => (rest, None),
        };
        let obis = Obis::parse(obis_text).map_err(|e| bad(e.to_string()))?;
        let index = index
            .or(default_index)
            .ok_or_else(|| bad("a method number is required (OBIS:METHOD)".into()))?;
        let class = class.or_else(|| model_class(obis)).ok_or_else(|| {
            bad(format!(
                "{obis} is not in the IoT-route object model: give its class as CLASS/{obis}"
            ))
        })?;
        Ok(Self { class, obis, index })
    }

    /// Whether a word names an object (`[CLASS/]OBIS[:N]`) rather than being a value:
    /// tells `OBJECT:METHOD VALUE` from two methods.
    #[must_use]
    pub fn looks_like(text: &str) -> bool {
        let rest = text.split_once('/').map_or(text, |(_, r)| r);
        let obis = rest
            .rsplit_once(':')
            .filter(|(l, r)| r.bytes().all(|b| b.is_ascii_digit()) && l.contains(':'))
            .map_or(rest, |(l, _)| l);
        Obis::parse(obis).is_ok()
    }
}

/// The class id of an object of the IoT-route model, as its `object_list` lists it.
fn model_class(obis: Obis) -> Option<u16> {
    let model = IotRouteModel::new(&ModelConfig::default(), Utc::now()).ok()?;
    Association::ALL
        .iter()
        .flat_map(|a| model.visible_objects(*a))
        .find(|(_, _, ln)| *ln == obis)
        .map(|(class, _, _)| class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rad01_targets_parse_with_default_attribute_class_prefix_and_method() {
        let t = Target::parse("0-0:1.0.0.255", Some(2)).unwrap();
        assert_eq!((t.class, t.index), (8, 2));
        let t = Target::parse("1-0:99.1.0.255:3", Some(2)).unwrap();
        assert_eq!((t.class, t.index), (7, 3));
        let t = Target::parse("70/0-0:96.3.10.255:2", Some(2)).unwrap();
        assert_eq!((t.class, t.index), (70, 2));
        assert!(Target::parse("0-0:1.0.0.255", None).is_err());
        assert!(Target::parse("0-0:96.3.10.255", Some(2)).is_err());
    }
}
