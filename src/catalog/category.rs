//! The consent categories (DESIGN.md): `necessary` is always on and never a choice; the
//! others are off until granted (GDPR art. 4(11): no pre-ticked boxes, CJEU Planet49).

use std::fmt;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Necessary,
    Preferences,
    Analytics,
    Marketing,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Necessary,
        Category::Preferences,
        Category::Analytics,
        Category::Marketing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Necessary => "necessary",
            Category::Preferences => "preferences",
            Category::Analytics => "analytics",
            Category::Marketing => "marketing",
        }
    }

    /// The consent funnel's name for "this category was granted".
    pub fn granted_metric(self) -> &'static str {
        match self {
            Category::Necessary => "granted_necessary",
            Category::Preferences => "granted_preferences",
            Category::Analytics => "granted_analytics",
            Category::Marketing => "granted_marketing",
        }
    }

    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of categories, as four bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CategorySet(u8);

impl CategorySet {
    pub const NECESSARY_ONLY: CategorySet = CategorySet(Category::Necessary.bit());
    pub const ALL: CategorySet = CategorySet(0b1111);

    pub fn contains(self, category: Category) -> bool {
        self.0 & category.bit() != 0
    }

    #[must_use]
    pub fn with(self, category: Category) -> CategorySet {
        CategorySet(self.0 | category.bit())
    }

    #[must_use]
    pub fn without(self, category: Category) -> CategorySet {
        CategorySet(self.0 & !category.bit())
    }

    /// The set as stored in the consent cookie.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// A set from stored bits; unknown bits make it invalid.
    pub fn from_bits(bits: u8) -> Option<CategorySet> {
        (bits & !Self::ALL.0 == 0).then_some(CategorySet(bits))
    }

    pub fn iter(self) -> impl Iterator<Item = Category> {
        Category::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Category> for CategorySet {
    fn from_iter<I: IntoIterator<Item = Category>>(iter: I) -> Self {
        iter.into_iter()
            .fold(CategorySet::default(), CategorySet::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let s = CategorySet::NECESSARY_ONLY.with(Category::Analytics);
        assert!(s.contains(Category::Necessary));
        assert!(s.contains(Category::Analytics));
        assert!(!s.contains(Category::Marketing));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![Category::Necessary, Category::Analytics]
        );
        assert!(!s.without(Category::Analytics).contains(Category::Analytics));
        assert_eq!(Category::parse("marketing"), Some(Category::Marketing));
        assert_eq!(Category::parse("tracking"), None);
    }
}
