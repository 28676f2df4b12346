"""Finding an owner from what a person types: an id or a slug."""

from tenants.models import Owner


class OwnerNotFound(LookupError):
    def __str__(self) -> str:
        return f"No owner with id or slug {self.args[0]!r}."


def find_owner(reference: str | int) -> Owner:
    text = str(reference).strip()
    query = {"pk": int(text)} if text.isdigit() else {"slug": text}
    try:
        return Owner.objects.get(**query)
    except Owner.DoesNotExist:
        raise OwnerNotFound(text) from None
