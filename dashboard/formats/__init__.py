"""Date formats per language (settings.FORMAT_MODULE_PATH): the app's Y-m-d H:i everywhere."""
