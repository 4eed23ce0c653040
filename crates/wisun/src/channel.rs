//! Wi-SUN HAN channels in the 920 MHz band (RAD-01): numbers 33-60, centre frequency
//! 922.5 MHz + 0.2 MHz per channel above 33, channel page 9 (SUN PHYs).

/// The channel page of the SUN PHYs.
pub const CHANNEL_PAGE: u8 = 9;

/// A channel number outside 33-60.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("channel {0} outside 33-60")]
pub struct ChannelError(pub u16);

/// A channel number 33-60.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Channel(u8);

impl Channel {
    /// Lowest channel.
    pub const FIRST: u8 = 33;
    /// Highest channel.
    pub const LAST: u8 = 60;

    /// Validate a channel number.
    ///
    /// # Errors
    /// [`ChannelError`] outside 33-60.
    pub fn new(number: u16) -> Result<Self, ChannelError> {
        match u8::try_from(number) {
            Ok(n) if (Self::FIRST..=Self::LAST).contains(&n) => Ok(Self(n)),
            _ => Err(ChannelError(number)),
        }
    }

    /// The channel number.
    #[must_use]
    pub const fn number(self) -> u8 {
        self.0
    }

    /// Centre frequency in kHz: 922 500 + 200 (ch - 33).
    #[must_use]
    pub const fn centre_khz(self) -> u32 {
        922_500 + 200 * (self.0 as u32 - Self::FIRST as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rad01_channel_plan() {
        let khz = |n| Channel::new(n).map(Channel::centre_khz);
        assert_eq!(khz(33), Ok(922_500));
        assert_eq!(khz(59), Ok(927_700));
        assert_eq!(khz(60), Ok(927_900));
        assert_eq!(khz(32), Err(ChannelError(32)));
        assert_eq!(khz(61), Err(ChannelError(61)));
    }
}
