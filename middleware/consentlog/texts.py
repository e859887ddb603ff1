"""The banner's words, per language. Add a language by adding a ``BannerTexts``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BannerTexts:
    """Every visible string of the banner, in one language."""

    title: str
    description: str
    privacy_link: str
    accept: str
    decline: str
    settings: str
    categories_legend: str
    save: str
    policy_changed: str
    my_data: str = "See my data"
    forget: str = "Delete my data"
    back: str = "Back to the page"  # the cookie settings page's link back


DEFAULT_TEXTS: dict[str, BannerTexts] = {
    "en": BannerTexts(
        title="Cookies on this site",
        description=(
            "We would like to count visits and see which pages help you, using cookies."
            " Nothing is set unless you accept. You can change your mind at any time."
        ),
        privacy_link="Privacy policy",
        accept="Accept",
        decline="Decline",
        settings="Settings",
        categories_legend="Cookie categories",
        save="Save choices",
        policy_changed="Our cookie policy has changed since your last choice. Please choose again.",
    ),
    "de": BannerTexts(
        title="Cookies auf dieser Website",
        description=(
            "Wir möchten mit Cookies Besuche zählen und sehen, welche Seiten Ihnen helfen."
            " Ohne Ihre Zustimmung wird nichts gesetzt. Sie können Ihre Wahl jederzeit ändern."
        ),
        privacy_link="Datenschutzerklärung",
        accept="Akzeptieren",
        decline="Ablehnen",
        settings="Einstellungen",
        categories_legend="Cookie-Kategorien",
        save="Auswahl speichern",
        policy_changed="Unsere Cookie-Richtlinie hat sich geändert. Bitte wählen Sie erneut.",
        my_data="Meine Daten ansehen",
        forget="Meine Daten löschen",
        back="Zurück zur Seite",
    ),
}
