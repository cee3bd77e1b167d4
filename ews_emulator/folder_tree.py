"""The folders every new mailbox starts with: Exchange 2016/2019's standard tree (en-US).

Each entry is (key, distinguished id or None, display name, FolderClass or None, element
kind, parent key). The distinguished ids are the DistinguishedFolderIdNameType values of
the Exchange2016 schema; the names and classes are those Exchange gives a new en-US
mailbox: the mailbox root ("root") holds the non-IPM subtree (search roots, views,
schedules, the Recoverable Items dumpster) and "Top of Information Store" (msgfolderroot),
which holds the folders a user sees. Folders only Exchange Online creates (Companies,
ExternalContacts, Yammer, Teams chats, ...) are left out.
"""

from __future__ import annotations

FolderSpec = tuple[str, str | None, str, str | None, str, str | None]

STANDARD_FOLDERS: tuple[FolderSpec, ...] = (
    ("root", "root", "root", None, "Folder", None),
    # -- the non-IPM subtree ---------------------------------------------------------------
    ("commonviews", None, "Common Views", None, "Folder", "root"),
    ("deferredaction", None, "Deferred Action", None, "Folder", "root"),
    ("exchangesyncdata", None, "ExchangeSyncData", None, "Folder", "root"),
    ("searchfolders", "searchfolders", "Finder", None, "Folder", "root"),
    ("freebusydata", None, "Freebusy Data", None, "Folder", "root"),
    ("location", None, "Location", None, "Folder", "root"),
    ("mailboxassociations", None, "MailboxAssociations", None, "Folder", "root"),
    ("mycontacts", "mycontacts", "My Contacts", "IPF.Note", "Folder", "root"),
    ("mycontactsextended", None, "MyContactsExtended", "IPF.Note", "Folder", "root"),
    ("peopleconnect", "peopleconnect", "PeopleConnect", None, "Folder", "root"),
    ("recoverableitemsroot", "recoverableitemsroot", "Recoverable Items", None, "Folder", "root"),
    (
        "recoverableitemsdeletions",
        "recoverableitemsdeletions",
        "Deletions",
        None,
        "Folder",
        "recoverableitemsroot",
    ),
    (
        "recoverableitemspurges",
        "recoverableitemspurges",
        "Purges",
        None,
        "Folder",
        "recoverableitemsroot",
    ),
    (
        "recoverableitemsversions",
        "recoverableitemsversions",
        "Versions",
        None,
        "Folder",
        "recoverableitemsroot",
    ),
    ("audits", None, "Audits", None, "Folder", "recoverableitemsroot"),
    ("calendarlogging", None, "Calendar Logging", None, "Folder", "recoverableitemsroot"),
    ("reminders", None, "Reminders", "Outlook.Reminder", "Folder", "root"),
    ("schedule", None, "Schedule", None, "Folder", "root"),
    ("sharing", None, "Sharing", "IPF.Note", "Folder", "root"),
    ("shortcuts", None, "Shortcuts", None, "Folder", "root"),
    ("spoolerqueue", None, "Spooler Queue", None, "Folder", "root"),
    ("system", None, "System", None, "Folder", "root"),
    ("todosearch", "todosearch", "To-Do Search", "IPF.Task", "Folder", "root"),
    ("views", None, "Views", None, "Folder", "root"),
    ("workingset", None, "Working Set", None, "Folder", "root"),
    # -- Top of Information Store ----------------------------------------------------------
    ("msgfolderroot", "msgfolderroot", "Top of Information Store", None, "Folder", "root"),
    ("calendar", "calendar", "Calendar", "IPF.Appointment", "CalendarFolder", "msgfolderroot"),
    ("contacts", "contacts", "Contacts", "IPF.Contact", "ContactsFolder", "msgfolderroot"),
    (
        "quickcontacts",
        "quickcontacts",
        "{06967759-274D-40B2-A3EB-D7F9E73727D7}",
        "IPF.Contact.MOC.QuickContacts",
        "ContactsFolder",
        "contacts",
    ),
    (
        "imcontactlist",
        "imcontactlist",
        "{A9E2BC46-B3A0-4243-B315-60D991004455}",
        "IPF.Contact.MOC.ImContactList",
        "ContactsFolder",
        "contacts",
    ),
    ("galcontacts", None, "GAL Contacts", "IPF.Contact.GalContacts", "ContactsFolder", "contacts"),
    (
        "organizationalcontacts",
        None,
        "Organizational Contacts",
        "IPF.Contact.OrganizationalContacts",
        "ContactsFolder",
        "contacts",
    ),
    (
        "recipientcache",
        "recipientcache",
        "Recipient Cache",
        "IPF.Contact.RecipientCache",
        "ContactsFolder",
        "contacts",
    ),
    (
        "conversationactionsettings",
        None,
        "Conversation Action Settings",
        "IPF.Configuration",
        "Folder",
        "msgfolderroot",
    ),
    ("deleteditems", "deleteditems", "Deleted Items", "IPF.Note", "Folder", "msgfolderroot"),
    ("drafts", "drafts", "Drafts", "IPF.Note", "Folder", "msgfolderroot"),
    ("files", None, "Files", "IPF.Files", "Folder", "msgfolderroot"),
    ("inbox", "inbox", "Inbox", "IPF.Note", "Folder", "msgfolderroot"),
    ("journal", "journal", "Journal", "IPF.Journal", "Folder", "msgfolderroot"),
    ("junkemail", "junkemail", "Junk Email", "IPF.Note", "Folder", "msgfolderroot"),
    ("notes", "notes", "Notes", "IPF.StickyNote", "Folder", "msgfolderroot"),
    ("outbox", "outbox", "Outbox", "IPF.Note", "Folder", "msgfolderroot"),
    ("personmetadata", None, "PersonMetadata", "IPF.Contact", "ContactsFolder", "msgfolderroot"),
    (
        "quickstepsettings",
        None,
        "Quick Step Settings",
        "IPF.Configuration",
        "Folder",
        "msgfolderroot",
    ),
    ("rssfeeds", None, "RSS Feeds", "IPF.Note.OutlookHomepage", "Folder", "msgfolderroot"),
    ("sentitems", "sentitems", "Sent Items", "IPF.Note", "Folder", "msgfolderroot"),
    ("syncissues", "syncissues", "Sync Issues", "IPF.Note", "Folder", "msgfolderroot"),
    ("conflicts", "conflicts", "Conflicts", "IPF.Note", "Folder", "syncissues"),
    ("localfailures", "localfailures", "Local Failures", "IPF.Note", "Folder", "syncissues"),
    ("serverfailures", "serverfailures", "Server Failures", "IPF.Note", "Folder", "syncissues"),
    ("tasks", "tasks", "Tasks", "IPF.Task", "TasksFolder", "msgfolderroot"),
)

# The ids a DistinguishedFolderId may name (the others are the tree's own keys).
DISTINGUISHED_IDS = frozenset(spec[1] for spec in STANDARD_FOLDERS if spec[1])
