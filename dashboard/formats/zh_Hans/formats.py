# The dashboard's own date format, also in the admin (Django's locale formats would show
# "Dec. 6, 2026, 7:35 p.m." there beside the app's "2026-12-06 19:35").
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
