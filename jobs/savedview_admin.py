"""Saved views in the admin (registered through one import in jobs/admin.py): staff can see every
view, fix a name, unshare or delete one (say, a shared view that no longer means anything)."""

from django.contrib import admin

from jobs.savedview_models import SavedView


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "page", "shared", "query", "updated_at"]
    list_filter = ["page", "shared"]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username"]
    raw_id_fields = ["owner"]
    readonly_fields = ["created_at", "updated_at"]
    ordering = ["name", "id"]
