"""``consentlog scan``: what a site stores in a fresh visitor's browser before a choice,
after Decline and after Accept, classified into a cookie declaration (``crawl`` visits,
``classify`` names, ``report`` writes)."""
