//! Typed ids into the configuration's lists ([`RouteId`], [`IssuerId`], [`BypassKeyId`]):
//! what a decision carries instead of a bare index. Only the configuration hands them out,
//! so an id is in range for the configuration that made it, and an id into one list
//! cannot be used on another.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use super::{BypassKey, IssuerConfig, RouteConfig};

/// One of `Config::routes`, resolved by `Config::route`.
pub type RouteId = Id<RouteConfig>;
/// One of `AuthConfig::issuers`, resolved by `AuthConfig::issuer`.
pub type IssuerId = Id<IssuerConfig>;
/// One of `BypassConfig::keys`, resolved by `BypassConfig::key`.
pub type BypassKeyId = Id<BypassKey>;

/// The position of one `T` in the configuration's list of them.
pub struct Id<T> {
    index: usize,
    of: PhantomData<fn() -> T>,
}

impl<T> Id<T> {
    /// This item's entry in a list kept parallel to the configuration's (an issuer's key
    /// sets).
    pub fn slot<U>(self, parallel: &[U]) -> Option<&U> {
        parallel.get(self.index)
    }

    /// The `index`th item of a test's configuration.
    #[cfg(test)]
    pub(crate) fn nth(index: usize) -> Id<T> {
        at(index)
    }
}

/// The id of the `index`th item (the caller found it in the configuration's list).
pub(super) fn at<T>(index: usize) -> Id<T> {
    Id {
        index,
        of: PhantomData,
    }
}

/// Every item of `items` with its id, in order.
pub(super) fn with_ids<T>(items: &[T]) -> impl Iterator<Item = (Id<T>, &T)> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| (at(index), item))
}

/// The item `id` names. `id` must come from `items`' configuration.
pub(super) fn resolve<T>(items: &[T], id: Id<T>) -> &T {
    &items[id.index]
}

impl<T> Clone for Id<T> {
    fn clone(&self) -> Id<T> {
        *self
    }
}

impl<T> Copy for Id<T> {}

impl<T> PartialEq for Id<T> {
    fn eq(&self, other: &Id<T>) -> bool {
        self.index == other.index
    }
}

impl<T> Eq for Id<T> {}

impl<T> Hash for Id<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.index.hash(state);
    }
}

impl<T> fmt::Debug for Id<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.index)
    }
}
