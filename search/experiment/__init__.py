"""The experiment folder: every file name in it (layout), its JSON files' format versions and
typed readers (formats), the settings and data it was started with (manifest), whether it is
whole (damage, intact), where it lives now (relocate), and opening or resuming its Tune state
(resume)."""
