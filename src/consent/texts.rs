//! The banner's built-in texts in Dutch, English, French and German. A site may replace
//! the first-layer texts per language (`[site.banner.texts.<lang>]`).
//!
//! The wording follows the regulators' rules: the first layer says what is asked, that
//! refusing costs nothing (EDPB guidelines 05/2020: no cookie wall) and where the choice
//! can be changed (GDPR art. 7(3)); no "by continuing to browse you agree".

use crate::catalog::Category;
use crate::config::Language;

/// Every text the banner shows, in one language.
pub struct Texts {
    pub title: &'static str,
    pub body: &'static str,
    pub accept_all: &'static str,
    pub reject_all: &'static str,
    pub settings: &'static str,
    pub save: &'static str,
    pub back: &'static str,
    pub privacy_policy: &'static str,
    pub preferences_title: &'static str,
    pub always_on: &'static str,
    pub services: &'static str,
    pub provider: &'static str,
    pub cookie: &'static str,
    pub purpose: &'static str,
    pub lifetime: &'static str,
    pub no_services: &'static str,
    pub consent_id: &'static str,
    pub consent_date: &'static str,
    pub gpc_notice: &'static str,
    pub language: &'static str,
    pub saved: &'static str,
    pub error: &'static str,
    pub session: &'static str,
    /// Singular and plural of hour, day, month, year.
    pub units: [(&'static str, &'static str); 4],
    /// Name and description per category, in [`Category::ALL`] order.
    pub categories: [(&'static str, &'static str); 4],
}

impl Texts {
    pub fn of(lang: Language) -> &'static Texts {
        match lang {
            Language::Nl => &NL,
            Language::En => &EN,
            Language::Fr => &FR,
            Language::De => &DE,
        }
    }

    pub fn category(&self, category: Category) -> (&'static str, &'static str) {
        self.categories[category as usize]
    }

    /// A cookie lifetime in words: "2 jaar", "13 months", "1 jour".
    pub fn duration(&self, d: std::time::Duration) -> String {
        let hours = d.as_secs() / 3600;
        let days = hours / 24;
        let (n, unit) = if days >= 365 {
            ((days + 182) / 365, 3)
        } else if days >= 28 {
            ((days * 100 + 1522) / 3044, 2)
        } else if days >= 1 {
            (days, 1)
        } else {
            (hours.max(1), 0)
        };
        let (one, many) = self.units[unit];
        format!("{n} {}", if n == 1 { one } else { many })
    }
}

static NL: Texts = Texts {
    title: "Cookies op deze website",
    body: "We gebruiken noodzakelijke cookies om de site te laten werken. Met uw toestemming gebruiken we ook cookies voor voorkeuren, statistieken en marketing. Weigeren heeft geen gevolgen voor het gebruik van de site, en u kunt uw keuze altijd wijzigen via de cookie-instellingen.",
    accept_all: "Alles accepteren",
    reject_all: "Alles weigeren",
    settings: "Instellingen",
    save: "Keuze opslaan",
    back: "Terug",
    privacy_policy: "Privacyverklaring",
    preferences_title: "Cookie-instellingen",
    always_on: "Altijd aan",
    services: "Diensten",
    provider: "Aanbieder",
    cookie: "Cookie",
    purpose: "Doel",
    lifetime: "Bewaartermijn",
    no_services: "Geen diensten in deze categorie.",
    consent_id: "Uw toestemmings-ID",
    consent_date: "Keuze gemaakt op",
    gpc_notice: "Uw browser vraagt met Global Privacy Control om niet gevolgd te worden. Daarom blijft marketing uit.",
    language: "Taal",
    saved: "Uw keuze is opgeslagen.",
    error: "Uw keuze kon niet worden opgeslagen. Probeer het opnieuw.",
    session: "sessie",
    units: [
        ("uur", "uur"),
        ("dag", "dagen"),
        ("maand", "maanden"),
        ("jaar", "jaar"),
    ],
    categories: [
        (
            "Noodzakelijk",
            "Nodig om de site te laten werken, bijvoorbeeld om uw cookiekeuze te onthouden. Deze staan altijd aan.",
        ),
        (
            "Voorkeuren",
            "Onthouden uw instellingen, zoals taal of regio.",
        ),
        (
            "Statistieken",
            "Helpen ons te begrijpen hoe bezoekers de site gebruiken, zodat we die kunnen verbeteren.",
        ),
        (
            "Marketing",
            "Tonen en meten advertenties, ook op andere websites, en laden ingesloten inhoud van derden zoals video's.",
        ),
    ],
};

static EN: Texts = Texts {
    title: "Cookies on this website",
    body: "We use necessary cookies to make the site work. With your consent we also use cookies for preferences, statistics and marketing. Refusing does not affect your use of the site, and you can change your choice at any time in the cookie settings.",
    accept_all: "Accept all",
    reject_all: "Reject all",
    settings: "Settings",
    save: "Save choice",
    back: "Back",
    privacy_policy: "Privacy policy",
    preferences_title: "Cookie settings",
    always_on: "Always on",
    services: "Services",
    provider: "Provider",
    cookie: "Cookie",
    purpose: "Purpose",
    lifetime: "Lifetime",
    no_services: "No services in this category.",
    consent_id: "Your consent ID",
    consent_date: "Choice made on",
    gpc_notice: "Your browser asks not to be tracked with Global Privacy Control, so marketing stays off.",
    language: "Language",
    saved: "Your choice has been saved.",
    error: "Your choice could not be saved. Please try again.",
    session: "session",
    units: [
        ("hour", "hours"),
        ("day", "days"),
        ("month", "months"),
        ("year", "years"),
    ],
    categories: [
        (
            "Necessary",
            "Needed for the site to work, for example to remember your cookie choice. Always on.",
        ),
        (
            "Preferences",
            "Remember your settings, such as language or region.",
        ),
        (
            "Statistics",
            "Help us understand how visitors use the site, so we can improve it.",
        ),
        (
            "Marketing",
            "Show and measure advertising, also on other websites, and load embedded third-party content such as videos.",
        ),
    ],
};

static FR: Texts = Texts {
    title: "Cookies sur ce site",
    body: "Nous utilisons des cookies nécessaires au fonctionnement du site. Avec votre consentement, nous utilisons aussi des cookies de préférences, de statistiques et de marketing. Refuser n'a aucune conséquence sur l'utilisation du site, et vous pouvez modifier votre choix à tout moment dans les paramètres des cookies.",
    accept_all: "Tout accepter",
    reject_all: "Tout refuser",
    settings: "Paramètres",
    save: "Enregistrer mon choix",
    back: "Retour",
    privacy_policy: "Politique de confidentialité",
    preferences_title: "Paramètres des cookies",
    always_on: "Toujours actifs",
    services: "Services",
    provider: "Fournisseur",
    cookie: "Cookie",
    purpose: "Finalité",
    lifetime: "Durée",
    no_services: "Aucun service dans cette catégorie.",
    consent_id: "Votre identifiant de consentement",
    consent_date: "Choix fait le",
    gpc_notice: "Votre navigateur demande, via Global Privacy Control, de ne pas être suivi : le marketing reste donc désactivé.",
    language: "Langue",
    saved: "Votre choix a été enregistré.",
    error: "Votre choix n'a pas pu être enregistré. Veuillez réessayer.",
    session: "session",
    units: [
        ("heure", "heures"),
        ("jour", "jours"),
        ("mois", "mois"),
        ("an", "ans"),
    ],
    categories: [
        (
            "Nécessaires",
            "Indispensables au fonctionnement du site, par exemple pour retenir votre choix de cookies. Toujours actifs.",
        ),
        (
            "Préférences",
            "Retiennent vos réglages, comme la langue ou la région.",
        ),
        (
            "Statistiques",
            "Nous aident à comprendre comment les visiteurs utilisent le site, afin de l'améliorer.",
        ),
        (
            "Marketing",
            "Affichent et mesurent la publicité, aussi sur d'autres sites, et chargent des contenus de tiers intégrés comme des vidéos.",
        ),
    ],
};

static DE: Texts = Texts {
    title: "Cookies auf dieser Website",
    body: "Wir verwenden notwendige Cookies, damit die Website funktioniert. Mit Ihrer Einwilligung verwenden wir auch Cookies für Präferenzen, Statistiken und Marketing. Eine Ablehnung hat keine Folgen für die Nutzung der Website, und Sie können Ihre Wahl jederzeit in den Cookie-Einstellungen ändern.",
    accept_all: "Alle akzeptieren",
    reject_all: "Alle ablehnen",
    settings: "Einstellungen",
    save: "Auswahl speichern",
    back: "Zurück",
    privacy_policy: "Datenschutzerklärung",
    preferences_title: "Cookie-Einstellungen",
    always_on: "Immer aktiv",
    services: "Dienste",
    provider: "Anbieter",
    cookie: "Cookie",
    purpose: "Zweck",
    lifetime: "Speicherdauer",
    no_services: "Keine Dienste in dieser Kategorie.",
    consent_id: "Ihre Einwilligungs-ID",
    consent_date: "Auswahl getroffen am",
    gpc_notice: "Ihr Browser bittet per Global Privacy Control darum, nicht verfolgt zu werden. Deshalb bleibt Marketing aus.",
    language: "Sprache",
    saved: "Ihre Auswahl wurde gespeichert.",
    error: "Ihre Auswahl konnte nicht gespeichert werden. Bitte versuchen Sie es erneut.",
    session: "Sitzung",
    units: [
        ("Stunde", "Stunden"),
        ("Tag", "Tage"),
        ("Monat", "Monate"),
        ("Jahr", "Jahre"),
    ],
    categories: [
        (
            "Notwendig",
            "Für den Betrieb der Website erforderlich, etwa um Ihre Cookie-Auswahl zu speichern. Immer aktiv.",
        ),
        (
            "Präferenzen",
            "Speichern Ihre Einstellungen, etwa Sprache oder Region.",
        ),
        (
            "Statistiken",
            "Helfen uns zu verstehen, wie Besucher die Website nutzen, damit wir sie verbessern können.",
        ),
        (
            "Marketing",
            "Zeigen und messen Werbung, auch auf anderen Websites, und laden eingebettete Inhalte Dritter wie Videos.",
        ),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_naturally() {
        let day = 24 * 3600;
        let nl = Texts::of(Language::Nl);
        assert_eq!(nl.duration(Duration::from_secs(2 * 365 * day)), "2 jaar");
        assert_eq!(nl.duration(Duration::from_secs(390 * day)), "1 jaar");
        let en = Texts::of(Language::En);
        assert_eq!(en.duration(Duration::from_secs(182 * day)), "6 months");
        assert_eq!(en.duration(Duration::from_secs(day)), "1 day");
        assert_eq!(en.duration(Duration::from_secs(60)), "1 hour");
        assert_eq!(
            Texts::of(Language::Fr).duration(Duration::from_secs(3 * day)),
            "3 jours"
        );
    }
}
