"""Messages: the list of conversations, a conversation with its composer, live updates by
polling, reports and the facilitators' moderation.

One blueprint for participants and staff: the same URLs, and the policy says who belongs where.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    jsonify,
    make_response,
    redirect,
    request,
    url_for,
)
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from iop_pwa import audit
from iop_pwa.access import Action, deny, load_or_404, parse_id
from iop_pwa.accounts.models import User
from iop_pwa.db import get_db
from iop_pwa.extensions import limiter
from iop_pwa.messages import services
from iop_pwa.messages.forms import (
    ButtonForm,
    DirectMessagesForm,
    GuidelinesForm,
    MemberForm,
    MessageForm,
    MuteForm,
    RemoveMessageForm,
    ReportForm,
)
from iop_pwa.messages.models import MAX_MESSAGE, Conversation
from iop_pwa.messages.policies import (
    CONVERSATION,
    GROUP_ROOM,
    MESSAGE,
    MESSAGE_REPORT,
    moderates,
)
from iop_pwa.pwa import outbox
from iop_pwa.pwa.device_write import valid_client_id, when_written
from iop_pwa.safety.program import get_contact
from iop_pwa.security import audit_staff_list
from iop_pwa.web import render_page, staff_required

bp = Blueprint("messages", __name__, url_prefix="/messages")

# How often an open conversation asks "anything after id N?" (seconds; see the README).
POLL_SECONDS = 3


def _sender_key() -> str:
    """Rate limits count per person, not per address (a clinic's phones may share one)."""
    return f"messages:{current_user.id}" if current_user.is_authenticated else "anonymous"


def _audit_read(conversation, shown, purpose: str) -> None:
    """A staff member read messages: one "staff_read" row per participant whose words were
    shown (a care team's thread: its participant, always), like the participant's page. The
    rows go in one statement, so a page's query count stays constant."""
    if not current_user.is_staff:
        return
    if conversation.participant_id is not None:
        subjects = [conversation.participant_id]
    else:
        subjects = sorted({i.message.author_id for i in shown if not i.author_is_staff}) or [None]
    audit.record_for_each(
        get_db(),
        "staff_read",
        subjects,
        actor_id=current_user.id,
        object_type="conversation",
        object_id=conversation.id,
        detail=f"{purpose}, messages shown: {len(shown)}",
    )


@bp.get("")
@login_required
@outbox.keep_offline
def index():
    """Every conversation the person belongs to, newest activity first, with unread counts."""
    db = get_db()
    services.ensure_conversations(db, user=current_user)
    rows = services.conversation_rows(db, user=current_user)
    if current_user.is_staff:  # their participants' names and last activity: a read
        audit_staff_list("messages", sum(1 for r in rows if r.conversation.participant_id))
    return render_page(
        "messages/index.html",
        rows=rows,
        reports=services.open_report_count(db, staff=current_user) if current_user.is_staff else 0,
    )


def _conversation_page(conversation, form: MessageForm | None = None, status: int = 200):
    db = get_db()
    since = services.history_start(db, conversation=conversation, user=current_user)
    shown, more = services.latest(db, conversation=conversation, reader=current_user, since=since)
    _audit_read(conversation, shown, "conversation")
    if shown:
        services.mark_read(
            db, conversation=conversation, user=current_user, up_to=shown[-1].message.id
        )
    moderator = moderates(db, current_user, conversation)
    # Members are listed for the facilitators (moderation) and, when direct messages are on,
    # for the members themselves ("Message Alex").
    peers_listed = (
        conversation.is_group and conversation.direct_messages and current_user.is_participant
    )
    closed = (
        services.direct_closed(db, conversation=conversation, user=current_user)
        if conversation.is_direct
        else None
    )
    response = make_response(
        render_page(
            "messages/conversation.html",
            conversation=conversation,
            title=services.title_of(db, conversation=conversation, user=current_user),
            shown=shown,
            more=more,
            last_id=shown[-1].message.id if shown else 0,
            form=form or MessageForm(),
            may_post=CONVERSATION.allows(db, current_user, conversation, Action.change),
            agreed=services.has_agreed(db, conversation=conversation, user=current_user),
            muted_until=services.muted_until(db, conversation=conversation, user=current_user)
            if conversation.group_id is not None and current_user.is_participant
            else None,
            moderator=moderator,
            members=services.members(db, conversation=conversation)
            if moderator or peers_listed
            else [],
            closed=closed,
            blocked=services.blocked_by_me(db, conversation=conversation, user=current_user),
            mute_form=MuteForm(),
            member_form=MemberForm(),
            contact=get_contact(db) if conversation.participant_id is not None else None,
            poll_seconds=POLL_SECONDS,
            max_length=MAX_MESSAGE,
            status=status,
        )
    )
    response.headers["Vary"] = "HX-Request"
    return response


@bp.get("/<int:conversation_id>")
@login_required
@outbox.keep_offline
def show(conversation_id: int):
    """A conversation: the newest messages at the bottom, older ones on scroll, the composer."""
    conversation = load_or_404(CONVERSATION, conversation_id)
    return _conversation_page(conversation)


@bp.post("/<int:conversation_id>/send")
@login_required
@limiter.limit("20 per minute;300 per day", key_func=_sender_key)
def send(conversation_id: int):
    """Send a message, from the page or from the device's outbox (stored once either way)."""
    conversation = load_or_404(CONVERSATION, conversation_id, Action.change)
    form = MessageForm()
    here = url_for("messages.show", conversation_id=conversation.id)
    if not form.validate_on_submit():
        return outbox.invalid(
            form.client_id.data, form.errors, lambda: _conversation_page(conversation, form, 422)
        )
    db = get_db()
    try:
        result = services.send(
            db,
            conversation=conversation,
            author=current_user,
            client_id=valid_client_id(form.client_id.data),
            body=form.body.data or "",
            written_at=when_written(form.written_at.data),
        )
    except services.MessageRefused as refused:
        if outbox.from_outbox():
            return jsonify(id=form.client_id.data, status="invalid", errors=[str(refused)]), 403
        flash(str(refused))
        return _conversation_page(conversation, form, 403)
    if outbox.from_outbox():
        # The page stays where it is: the next poll brings the message in (see messages.js).
        return jsonify(id=result.message.client_id, status="saved", stay=True, crisis=result.crisis)
    if result.crisis:
        flash("shared", "crisis")
    return redirect(here, 303)


@bp.get("/<int:conversation_id>/poll")
@login_required
def poll(conversation_id: int):
    """ "Anything after id N?": 204 with no body when nothing is new (the usual answer), else
    the new messages and the next poller. A person no longer in the conversation gets 404."""
    after_id = parse_id(request.args.get("after")) or 0
    db = get_db()
    new = services.poll(db, conversation_id=conversation_id, after_id=after_id, reader=current_user)
    if new is None:
        deny("conversation", conversation_id)
    if not new:
        response = make_response("", 204)
    else:
        conversation = db.get(Conversation, conversation_id)
        _audit_read(conversation, new, "poll")
        services.mark_read(
            db, conversation=conversation, user=current_user, up_to=new[-1].message.id
        )
        response = make_response(
            render_block(
                "messages/conversation.html",
                "poll",
                conversation=conversation,
                shown=new,
                polled=True,
                last_id=new[-1].message.id,
                moderator=moderates(db, current_user, conversation),
                poll_seconds=POLL_SECONDS,
            )
        )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<int:conversation_id>/older")
@login_required
def older(conversation_id: int):
    """The page of messages before id N (loaded when the reader scrolls to the top)."""
    conversation = load_or_404(CONVERSATION, conversation_id)
    before = parse_id(request.args.get("before"))
    db = get_db()
    since = services.history_start(db, conversation=conversation, user=current_user)
    shown, more = services.latest(
        db, conversation=conversation, reader=current_user, before=before, since=since
    )
    _audit_read(conversation, shown, "older")
    return render_block(
        "messages/conversation.html",
        "older",
        conversation=conversation,
        shown=shown,
        more=more,
        moderator=moderates(db, current_user, conversation),
    )


@bp.post("/<int:conversation_id>/agree")
@login_required
def agree(conversation_id: int):
    """ "I agree" to a group's guidelines, before a first post."""
    conversation = load_or_404(CONVERSATION, conversation_id)
    services.agree(get_db(), conversation=conversation, user=current_user)
    return redirect(url_for("messages.show", conversation_id=conversation.id), 303)


@bp.route("/<int:conversation_id>/guidelines", methods=["GET", "POST"])
@staff_required
def guidelines(conversation_id: int):
    """A facilitator writes the group's guidelines (members agree to them before posting)."""
    conversation = load_or_404(GROUP_ROOM, conversation_id, Action.change)
    db = get_db()
    form = GuidelinesForm(data={"guidelines": "\n".join(conversation.guideline_lines)})
    if form.validate_on_submit():
        services.set_guidelines(
            db, conversation=conversation, by=current_user, text=form.guidelines.data or ""
        )
        flash("The group's guidelines are saved.")
        return redirect(url_for("messages.show", conversation_id=conversation.id), 303)
    return render_page(
        "messages/guidelines.html",
        conversation=conversation,
        title=services.title_of(db, conversation=conversation, user=current_user),
        form=form,
        status=422 if request.method == "POST" else 200,
    )


@bp.post("/<int:conversation_id>/mute")
@staff_required
def mute(conversation_id: int):
    conversation = load_or_404(GROUP_ROOM, conversation_id, Action.change)
    form = MuteForm()
    if not form.validate_on_submit():
        flash("Choose how long to pause their posting.")
        return _conversation_page(conversation, status=422)
    services.mute(
        get_db(),
        conversation=conversation,
        by=current_user,
        member_id=parse_id(form.member.data),
        hours=form.hours.data,
    )
    flash("Their posting is paused. They were told, without the reason.")
    return redirect(url_for("messages.show", conversation_id=conversation.id), 303)


@bp.route("/<int:conversation_id>/remove", methods=["GET", "POST"])
@staff_required
def remove(conversation_id: int):
    """Removing a member: a page that says who is removed and what happens, then the removal
    (a POST from that page)."""
    conversation = load_or_404(GROUP_ROOM, conversation_id, Action.change)
    db = get_db()
    back = url_for("messages.show", conversation_id=conversation.id)
    if request.method == "GET":
        member = services.member_to_remove(
            db,
            conversation=conversation,
            by=current_user,
            member_id=parse_id(request.args.get("member")),
        )
        return render_page(
            "messages/remove.html",
            conversation=conversation,
            title=services.title_of(db, conversation=conversation, user=current_user),
            member=member,
            form=MemberForm(data={"member": member.id}),
            back=back,
        )
    form = MemberForm()
    if not form.validate_on_submit():
        flash("Choose who to remove from the group.")
        return _conversation_page(conversation, status=422)
    member = services.remove_member(
        db, conversation=conversation, by=current_user, member_id=parse_id(form.member.data)
    )
    flash(f"{member.name} is no longer in the group. They were told, without the reason.")
    return redirect(back, 303)


@bp.post("/<int:conversation_id>/direct-messages")
@staff_required
def direct_messages(conversation_id: int):
    """A facilitator turns direct messages between the group's members on or off."""
    conversation = load_or_404(GROUP_ROOM, conversation_id, Action.change)
    form = DirectMessagesForm()
    back = url_for("messages.show", conversation_id=conversation.id)
    if not form.validate_on_submit():
        flash("Choose whether direct messages are on or off.")
        return _conversation_page(conversation, status=422)
    on = form.turn.data == "on"
    services.set_direct_messages(get_db(), room=conversation, by=current_user, on=on)
    flash(
        "Members can now message each other directly."
        if on
        else "Direct messages are off. Existing ones can still be read but not added to."
    )
    return redirect(back, 303)


@bp.post("/<int:conversation_id>/direct")
@login_required
def start_direct(conversation_id: int):
    """A member opens a direct conversation with another member of the group."""
    room = load_or_404(CONVERSATION, conversation_id)
    form = MemberForm()
    if not form.validate_on_submit():
        flash("Choose who to message.")
        return _conversation_page(room, status=422)
    try:
        conversation = services.start_direct(
            get_db(), room=room, by=current_user, member_id=parse_id(form.member.data)
        )
    except services.MessageRefused as refused:
        flash(str(refused))
        return _conversation_page(room, status=403)
    return redirect(url_for("messages.show", conversation_id=conversation.id), 303)


@bp.post("/<int:conversation_id>/block")
@login_required
def block(conversation_id: int):
    """Stop the other person in a direct conversation from messaging you."""
    conversation = load_or_404(CONVERSATION, conversation_id)
    if not ButtonForm().validate_on_submit():
        return _conversation_page(conversation, status=400)
    other = services.block(get_db(), conversation=conversation, by=current_user)
    flash(f"You blocked {other.name}. They can no longer message you directly.")
    return redirect(url_for("messages.show", conversation_id=conversation.id), 303)


@bp.post("/<int:conversation_id>/unblock")
@login_required
def unblock(conversation_id: int):
    conversation = load_or_404(CONVERSATION, conversation_id)
    if not ButtonForm().validate_on_submit():
        return _conversation_page(conversation, status=400)
    other = services.unblock(get_db(), conversation=conversation, by=current_user)
    flash(f"You unblocked {other.name}.")
    return redirect(url_for("messages.show", conversation_id=conversation.id), 303)


@bp.route("/m/<int:message_id>/report", methods=["GET", "POST"])
@login_required
def report(message_id: int):
    """Ask the group's facilitators to look at a message, with a reason."""
    message = load_or_404(MESSAGE, message_id)
    form = ReportForm()
    back = url_for("messages.show", conversation_id=message.conversation_id)
    if form.validate_on_submit():
        try:
            services.report(
                get_db(),
                message=message,
                reporter=current_user,
                reason=form.reason.data,
                detail=form.detail.data or "",
            )
        except services.MessageRefused as refused:
            form.reason.errors = [str(refused)]
        else:
            flash(
                "Thank you. Their care team and the group's facilitators will look at it soon."
                if form.reason.data == services.SAFETY_REASON
                else "Thank you. The group's facilitators will look at it."
            )
            return redirect(back, 303)
    return render_page(
        "messages/report.html",
        message=message,
        form=form,
        back=back,
        status=422 if request.method == "POST" else 200,
    )


def _remove_page(message, form: RemoveMessageForm, status: int = 200):
    db = get_db()
    conversation = db.get(Conversation, message.conversation_id)
    author = db.get(User, message.author_id)
    return render_page(
        "messages/remove_message.html",
        message=message,
        author_name=author.name if author else "A member",
        title=services.title_of(db, conversation=conversation, user=current_user)
        if conversation.is_group
        else None,
        form=form,
        back=_after_removing(message, form.next.data),
        status=status,
    )


def _after_removing(message, target: str | None) -> str:
    if target == "moderation":
        return url_for("messages.moderation")
    return url_for("messages.show", conversation_id=message.conversation_id)


@bp.get("/m/<int:message_id>/remove")
@staff_required
def confirm_hide(message_id: int):
    """Before a facilitator removes a message: the message, why it is removed (its author is
    told), and the button."""
    message = load_or_404(MESSAGE, message_id, Action.change)
    return _remove_page(message, RemoveMessageForm(data={"next": request.args.get("next", "")}))


@bp.post("/m/<int:message_id>/hide")
@staff_required
def hide(message_id: int):
    """A facilitator removes a message from the group (others see "Removed by a moderator"),
    from the confirmation page, with the reason its author is told."""
    message = load_or_404(MESSAGE, message_id, Action.change)
    form = RemoveMessageForm()
    if not form.validate_on_submit():
        return _remove_page(message, form, 422)
    services.hide(get_db(), message=message, by=current_user, reason=form.reason.data)
    flash("The message is removed. Its author was told why, in general words.")
    return redirect(_after_removing(message, form.next.data), 303)


@bp.get("/moderation")
@staff_required
def moderation():
    """The facilitator's queue: reported messages in the groups they facilitate."""
    rows = services.open_reports(get_db(), staff=current_user)
    # Reported messages, direct ones too: a read of each author's words.
    audit.record_for_each(
        get_db(),
        "staff_read",
        sorted({r.message.author_id for r in rows if not r.author_is_staff}) or [None],
        actor_id=current_user.id,
        object_type="moderation_queue",
        detail=f"moderation, reports shown: {len(rows)}",
    )
    return render_page("messages/moderation.html", rows=rows, member_form=MemberForm())


@bp.post("/reports/<int:report_id>/dismiss")
@staff_required
def dismiss(report_id: int):
    """A facilitator looked at a report and leaves the message as it is."""
    row = load_or_404(MESSAGE_REPORT, report_id, Action.change)
    services.dismiss_report(get_db(), report=row, by=current_user)
    flash("The report is closed; the message stays.")
    return redirect(url_for("messages.moderation"), 303)
